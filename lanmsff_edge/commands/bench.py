"""`lanmsff-edge bench`: latency, size and accuracy of models on a target, beside the float model."""
import click

from lanmsff_edge import parity as parity_backends
from lanmsff_edge.bench import devices
from lanmsff_edge.bench.models import INPUT_RANGES
from lanmsff_edge.commands.params import CommaChoice, InputPath, ModelPath, OutputPath, model_help
from lanmsff_edge.data.classes import DATASETS, SPLITS
from lanmsff_edge.firmware_export.cores import CORES
from lanmsff_edge.firmware_export.tflm import ROUNDINGS

DEVICE_CHOICES = tuple(devices.DEVICES)
ANDROID_DELEGATES = tuple(devices.ANDROID_DELEGATES)


class BackendList(click.ParamType):
    """--backends: comma-separated parity backends (lanmsff_edge.parity.BACKENDS), two or more."""

    name = "backends"

    def convert(self, value, param, ctx):
        from lanmsff_edge.errors import UserError
        from lanmsff_edge.parity import backend_names

        if isinstance(value, tuple):
            return value
        try:
            return backend_names(value)
        except UserError as error:
            self.fail(str(error), param, ctx)


@click.command(help="""Benchmark models on a target: one table, a row per model and format.

Each --model may be a .keras or .tflite image classifier (NHWC, 1 or 3 channels, any fixed size); a .keras
model is also converted to float32 and int8 TFLite. Without --model the bundled pretrained models are used.
Speed-up and 'smaller' compare each row with the float Keras model (float32 TFLite when no Keras row ran).""")
@click.option("--model", "models", multiple=True, type=ModelPath(),
              help=model_help("A .keras or .tflite file or a training run folder",
                              "Repeat for several; a bare bundled name benches its float and int8 files."))
@click.option("--device", type=click.Choice(DEVICE_CHOICES), default=devices.DEFAULT_DEVICE, show_default=True,
              help=devices.device_help())
@click.option("--threads", type=click.IntRange(1, None), default=1, show_default=True,
              help="CPU threads (LiteRT, TensorFlow, Android).")
@click.option("--runs", type=click.IntRange(1, None), default=None,
              help=f"Timed runs per model [{devices.defaults_text('runs')}].")
@click.option("--warmup", type=click.IntRange(0, None), default=None,
              help=f"Untimed warm-up runs [{devices.defaults_text('warmup')}].")
@click.option("--dataset", type=click.Choice(DATASETS), default=None,
              help="Data set for accuracy (e.g. ferplus, fer2013, kdef, synthetic).")
@click.option("--data", type=InputPath(), default=None, help="The data set's folder or archive.")
@click.option("--split", type=click.Choice(SPLITS), default="val", show_default=True,
              help="Split to measure accuracy on.")
@click.option("--limit", type=click.IntRange(1, None), default=None, help="Use the first N images of the split.")
@click.option("--fold", type=click.IntRange(1, 5), default=None,
              help="KDEF: cross-validation fold 1..5 (its subjects are the split).")
@click.option("--no-convert", is_flag=True, help="Do not add converted float32/int8 TFLite rows for .keras models.")
@click.option("--input-range", type=click.Choice(list(INPUT_RANGES)), default="0,1", show_default=True,
              help="Value range the models expect (faces are min-max scaled to it).")
@click.option("--wide", is_flag=True, help="Every column in the terminal table (by default it fits 120 columns).")
@click.option("--json", "json_path", type=OutputPath(dir_okay=False), help="Write the rows as JSON.")
@click.option("--markdown", "markdown_path", type=OutputPath(dir_okay=False), help="Write the table as Markdown.")
@click.option("--plot", "plot_path", type=OutputPath(dir_okay=False), help="Write accuracy/latency/size plot (PNG).")
@click.option("--benchmark-binary", type=InputPath(exists=False), default=None,
              help="android: TFLite's benchmark_model binary built for the phone.")
@click.option("--serial", default=None, help="android: adb serial of the device (when several are attached).")
@click.option("--mapping-only", is_flag=True,
              help="coral: only check how the ops map onto the Edge TPU (no Coral needed, no timing).")
@click.option("--android-delegates", type=CommaChoice(ANDROID_DELEGATES), default=",".join(ANDROID_DELEGATES),
              show_default=True, help=f"android: comma-separated subset of {','.join(ANDROID_DELEGATES)}.")
@click.option("--parity", is_flag=True,
              help="Instead of timing: run each int8 model with every --backends kernel library on all images of "
                   "--dataset's --split and compare the raw int8 outputs pairwise (max difference in output steps, "
                   "images differing, top-1 agreement).")
@click.option("--backends", type=BackendList(), default=",".join(parity_backends.DEFAULT_BACKENDS),
              show_default=True,
              help=f"--parity: backends to compare ({', '.join(parity_backends.BACKENDS)}).")
@click.option("--trace", is_flag=True,
              help="--parity: also run XNNPACK and the reference kernels (tflm-single when among --backends) with "
                   "every intermediate tensor kept, and each op alone, and report the first op whose output differs, "
                   "which ops differ by themselves and how the difference grows.")
@click.option("--emulate", "emulate", multiple=True, type=click.Choice(list(CORES)),
              help="mcu: also build each int8 model with real TFLite Micro + CMSIS-NN and run it under QEMU on this "
                   "core (repeatable): golden self-test, instructions per inference and per op, arena, flash, RAM.")
@click.option("--tflm", default=None, type=InputPath(),
              help="mcu --emulate, and --parity's tflm-single backend: a TFLite Micro tree (checkout with "
                   "downloads, or tflm-tree.tar.gz). [default: $TFLM_DIR]")
@click.option("--rounding", type=click.Choice(ROUNDINGS), default="single", show_default=True,
              help="mcu --emulate: build TFLite Micro and CMSIS-NN with single rounding (TFLITE_SINGLE_ROUNDING=1, "
                   "CMSIS_NN_USE_SINGLE_ROUNDING: XNNPACK's arithmetic) or their stock double rounding.")
@click.option("--patches", "patch_counts", type=click.IntRange(1, 10), multiple=True,
              help="mcu: a row per patch count (repeatable, e.g. --patches 1 --patches 6): arena, MACs, host time "
                   "(and emulated instructions with --emulate).")
def command(models, device, threads, runs, warmup, dataset, data, split, limit, fold, no_convert, input_range, wide,
            json_path, markdown_path, plot_path, benchmark_binary, serial, mapping_only, android_delegates, parity,
            backends, trace, emulate, tflm, rounding, patch_counts):
    if parity or trace:
        return _parity(parity, trace, models, device, threads, runs, warmup, dataset, data, split, limit, fold,
                       input_range, json_path, markdown_path, plot_path, backends, tflm)
    from lanmsff_edge.atomic import artifact_group
    from lanmsff_edge.bench import run_bench
    from lanmsff_edge.bench.report import format_table, write_json, write_markdown

    delegates = android_delegates
    report = run_bench(models, device=device, threads=threads, runs=runs, warmup=warmup, dataset=dataset, data=data,
                       split=split, limit=limit, fold=fold, convert=not no_convert, input_range=input_range,
                       benchmark_binary=benchmark_binary, android_serial=serial, android_delegates=delegates,
                       mapping_only=mapping_only,
                       emulate=emulate, tflm=tflm, patches=patch_counts, rounding=rounding)
    click.echo(format_table(report, wide=wide))
    with artifact_group():  # the report's files: all of this run, or all as they were
        if json_path:
            write_json(report, json_path)
        if markdown_path:
            write_markdown(report, markdown_path)
        if plot_path:
            from lanmsff_edge.bench.plot import write_plot

            write_plot(report, plot_path)
    if report.results and all(row.error for row in report.results):
        raise click.ClickException("no model could be benchmarked (see the errors above)")


def _parity(parity, trace, models, device, threads, runs, warmup, dataset, data, split, limit, fold, input_range,
            json_path, markdown_path, plot_path, backends, tflm):
    from lanmsff_edge.bench.parity_report import format_parity, run_parity, write_parity_json, write_parity_markdown
    from lanmsff_edge.errors import UserError

    if not parity:
        raise UserError("--trace is part of --parity: add --parity")
    unused = [name for name, given in (("--device", device != "cpu"), ("--runs", runs is not None),
                                       ("--warmup", warmup is not None), ("--plot", plot_path is not None)) if given]
    if unused:
        raise UserError(f"--parity compares outputs on the host and times nothing: drop {', '.join(unused)}")
    if threads < 1:
        raise UserError(f"--threads must be at least 1, got {threads}")
    report = run_parity(models, dataset=dataset, data=data, split=split, limit=limit, fold=fold, backends=backends,
                        threads=threads, trace=trace, input_range=input_range, tflm=tflm)
    click.echo(format_parity(report))
    if json_path:
        write_parity_json(report, json_path)
    if markdown_path:
        write_parity_markdown(report, markdown_path)
