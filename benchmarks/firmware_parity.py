"""The firmware's answers against the phone's and the host's: FERPlus validation faces through the bundle built
with real TFLM + CMSIS-NN on emulated Cortex-M cores, compared with LiteRT XNNPACK and TFLite Micro on the host.

    python benchmarks/firmware_parity.py --data ../shared/data/ferplus.tar.gz --tflm ../shared/tflm/tflm-tree.tar.gz \
        [--images 200] [--core cortex-m55] [--patches 6] [--rounding single] [--json out.json]

Prints the pair table of ``lanmsff_edge.parity`` (max difference in output steps, images differing, top-1)
with the emulated core as one more backend; the bundle is built with ``--rounding`` (TFLM and CMSIS-NN single or
double rounding), and the host TFLM of the same rounding (``tflm-single``, or the ``tflm`` package) is compared.
The first ``--images`` validation images are used: emulation runs
each inference instruction by instruction (the M55 is the fastest to emulate).
"""
import json
import sys
import tempfile
from pathlib import Path

import click
import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))


@click.command()
@click.option("--data", "data_path", required=True, help="FERPlus folder or archive (its val split).")
@click.option("--tflm", default=None, help="TFLite Micro tree or tflm-tree.tar.gz [default: $TFLM_DIR].")
@click.option("--model", default="ferplus", show_default=True, help="Bundled name or int8 .tflite.")
@click.option("--images", default=200, show_default=True, type=click.IntRange(1, 5000))
@click.option("--core", "cores", multiple=True, default=("cortex-m55",), show_default=True,
              type=click.Choice(["cortex-m4", "cortex-m7", "cortex-m55"]))
@click.option("--patches", default=1, show_default=True, type=click.IntRange(1, 10))
@click.option("--rounding", default="single", show_default=True, type=click.Choice(["single", "double"]))
@click.option("--host", "host_backends", default=None,
              help="Host parity backends [default: xnnpack,tflm-single,tflm for single rounding, xnnpack,tflm for "
                   "double].")
@click.option("--json", "json_path", default=None)
def main(data_path, tflm, model, images, cores, patches, rounding, host_backends, json_path):
    from lanmsff_edge import load_dataset, parity
    from lanmsff_edge.artifacts import presets
    from lanmsff_edge.data.common import to_model_input
    from lanmsff_edge.firmware_export import emulate, export_firmware
    from lanmsff_edge.firmware_export import tflm as tflm_tree
    from lanmsff_edge.memory import fit
    from lanmsff_edge.runtimes.quantization import quantize_for
    from lanmsff_edge.tflite_graph import read_tflite

    tree = tflm_tree.find_tree(tflm)
    graph_bytes = Path(presets.resolve(model, "int8") or model).read_bytes()
    if patches > 1:
        graph_bytes = fit.variant(graph_bytes, patches).data
    graph = read_tflite(graph_bytes)
    with tempfile.TemporaryDirectory() as folder:
        model_file = Path(folder) / "model.tflite"
        model_file.write_bytes(graph_bytes)  # the bundle embeds exactly the bytes the host backends run
        bundle = export_firmware(model_file, Path(folder) / "fw", tflm=tree, rounding=rounding)
        faces = to_model_input(load_dataset("ferplus", data_path, split="val", limit=images).images)
        inputs = [quantize_for(graph.inputs[0], face[None]) for face in faces]
        host = parity.backend_names(host_backends or ("xnnpack,tflm-single,tflm" if rounding == "single" else
                                                      "xnnpack,tflm"))
        result = parity.measure(graph_bytes, inputs, backends=host, tflm=tree)
        if any(entry["error"] for entry in result.backends.values()):
            raise SystemExit(f"a host backend failed: {result.backends}")
        outputs = dict(result.outputs)
        for core in cores:
            run = emulate.emulate(bundle.out, core, tree, inputs=np.stack(inputs))
            if not run.golden_ok:
                raise SystemExit(f"the golden self-test failed on the emulated {core}: {run.output} vs "
                                 f"{run.golden_output}")
            click.echo(f"emulated {core} ({rounding} rounding): golden self-test bit-exact, "
                       f"{run.instructions / 1e6:.1f} M instructions per inference (under QEMU, not cycles)")
            outputs[f"emulated {core}"] = np.asarray(run.outputs, np.int64)
    table = parity.pair_table(outputs, graph.outputs[0])
    click.echo(f"{model}, {patches} patch(es), {rounding} rounding, first {len(inputs)} FERPlus validation images:")
    for pair in table:
        click.echo(f"  {pair['a']:>20} vs {pair['b']:<20} max {pair['max_abs_diff']:.0f} steps, "
                   f"{pair['images_differing']} images differ, top-1 differs on {pair['top1_differing']}")
    for pair in result.logit_pairs:
        click.echo(f"  {pair['a']:>20} vs {pair['b']:<20} at the logits: max {pair['max_abs_diff']:.0f} logit steps, "
                   f"{pair['images_differing']} images differ")
    if json_path:
        Path(json_path).write_text(json.dumps({"model": model, "patches": patches, "rounding": rounding,
                                               "images": len(inputs), "logit_pairs": result.logit_pairs,
                                               "pairs": table}, indent=2) + "\n")


if __name__ == "__main__":
    main()
