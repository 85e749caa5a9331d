"""Int8 models this project did not train, through every MCU command: the table of docs/any_model.md.

    python benchmarks/any_model.py [--tflm ../shared/tflm/tflm-tree.tar.gz] [--model FILE.tflite ...]
        [--verify cortex-m7 --verify cortex-m55] [--rounding double] [--markdown out.md]

Default models: TFLite Micro's own examples in the tree (person_detect, micro_speech, keyword_scrambled, hello_world,
the int8 LSTM). Per model: what `info` says (input, output, MACs, ops TFLM lacks), `bench --device mcu` (host TFLM
arena, flash, parity with LiteRT on random inputs of the model's shape, or why LiteRT could not run it),
`export-firmware` (bundle kind, golden) and, per `--verify` core, the bundle built with real TFLM + CMSIS-NN under
QEMU: golden bit-exact, instructions (under QEMU, not cycles), arena used on the core against the host's figure.
Each new op set builds a TFLM library once per core (minutes; cached in $LANMSFF_TFLM_CACHE).
"""
import sys
import tempfile
from pathlib import Path

import click

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

EXAMPLES = {
    "person_detect": "tensorflow/lite/micro/models/person_detect.tflite",
    "micro_speech": "tensorflow/lite/micro/examples/micro_speech/models/micro_speech_quantized.tflite",
    "keyword_scrambled": "tensorflow/lite/micro/models/keyword_scrambled_8bit.tflite",
    "hello_world": "tensorflow/lite/micro/examples/hello_world/models/hello_world_int8.tflite",
    "lstm": "tensorflow/lite/micro/examples/mnist_lstm/trained_lstm_int8.tflite",
}


def one_model(path, cores, tree, rounding):
    from lanmsff_edge.bench.mcu import tflm_row
    from lanmsff_edge.bench.models import open_model
    from lanmsff_edge.bench.settings import BenchSettings
    from lanmsff_edge.errors import UserError
    from lanmsff_edge.firmware_export import export_firmware
    from lanmsff_edge.tflite_info import describe

    info = describe(path)
    entry = {"model": Path(path).stem, "input": f"{info['inputs'][0]['dtype']} {info['inputs'][0]['shape']}",
             "output": f"{info['outputs'][0]['dtype']} {info['outputs'][0]['shape']}", "macs": info.get("macs")}
    row = tflm_row(open_model(path), BenchSettings(device="mcu", runs=3, warmup=1))
    parity = row.extra.get("parity")
    entry.update(arena=row.extra.get("arena_bytes"), flash=row.size_bytes, bench_error=row.error,
                 parity="LiteRT refused" if parity is None and not row.error else
                 (None if parity is None else f"{parity['top1_agreement']:.0%} / {parity['max_abs_diff']:g}"))
    with tempfile.TemporaryDirectory() as folder:
        try:
            made = export_firmware(path, Path(folder) / "fw", rounding=rounding, tflm=tree)
            entry["bundle"] = made.manifest["kind"]
        except UserError as error:
            entry["bundle"] = f"refused: {error}"
        for core in cores:
            try:
                made = export_firmware(path, Path(folder) / core, rounding=rounding, tflm=tree, verify=core)
                verified = made.manifest["verified"]
                entry[core] = (f"{'bit-exact' if verified['golden_ok'] else 'DIFFERS'}, "
                               f"{verified['instructions'] / 1e6:.2f} M instr., arena {verified['arena_used_bytes']:,}"
                               f" B (host {made.arena_minimum:,} B; {made.manifest['arena']['sized_for'][:16]})")
            except UserError as error:
                entry[core] = f"error: {' '.join(str(error).split())[:120]}"
    return entry


@click.command()
@click.option("--tflm", default=None, help="TFLite Micro tree or tflm-tree.tar.gz [default: $TFLM_DIR].")
@click.option("--model", "models", multiple=True, help="int8 .tflite files [default: the tree's examples].")
@click.option("--verify", "cores", multiple=True, type=click.Choice(["cortex-m4", "cortex-m7", "cortex-m55"]))
@click.option("--rounding", default="double", show_default=True, type=click.Choice(["single", "double"]))
@click.option("--markdown", "markdown_path", default=None)
def main(tflm, models, cores, rounding, markdown_path):
    from lanmsff_edge.firmware_export import tflm as tflm_tree

    tree = tflm_tree.find_tree(tflm) if (tflm or cores or rounding == "single" or not models) else None
    paths = list(models) or [tree.root / relative for relative in EXAMPLES.values() if (tree.root / relative).is_file()]
    header = ["model", "input", "output", "MACs", "host arena", "flash", "LiteRT parity", "bundle", *cores]
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    for path in paths:
        e = one_model(path, cores, tflm, rounding)
        cells = [e["model"], e["input"], e["output"], f"{e['macs']:,}" if e["macs"] else "-",
                 "-" if e["arena"] is None else f"{e['arena']:,} B", f"{e['flash']:,} B",
                 e["bench_error"] or e["parity"] or "-", e["bundle"], *(e[core] for core in cores)]
        lines.append("| " + " | ".join(str(c).replace("|", "\\|") for c in cells) + " |")
        click.echo(lines[-1], err=True)
    text = "\n".join(lines) + "\n"
    click.echo(text)
    if markdown_path:
        Path(markdown_path).write_text(text)


if __name__ == "__main__":
    main()
