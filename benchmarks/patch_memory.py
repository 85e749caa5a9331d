"""Patch-based execution, measured: TFLM arena and MACs per patch count, the fewest patches for 256 KB / 200 KB,
and bit-identity of the patched model with the unpatched one on a whole data-set split.

    python benchmarks/patch_memory.py --data ../shared/data/ferplus.tar.gz [--tflm-images 200] [--json out.json]

Models: the bundled full-width FERPlus int8 model, and untrained width-0.5 / 0.25 LANMSFFs quantized (PTQ) on
synthetic faces — their arena and MACs depend only on their shapes, and the identity check only on the rewrite,
so untrained weights measure both. Identity: every image of the split through LiteRT's reference kernels, the
first ``--slow-images`` through LiteRT's reference kernels and TFLite Micro (host; both are slow at full width),
every input through LiteRT's default (XNNPACK) kernels, plus 32 random int8 inputs and the two constant extremes.
"""
import json
import sys
from pathlib import Path

import click
import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))


def _width_model(width):
    from lanmsff_edge.data.common import to_model_input
    from lanmsff_edge.data.synthetic import generate
    from lanmsff_edge.keras import keras
    from lanmsff_edge.model import build_model
    from lanmsff_edge.quantize.converter import convert

    keras.utils.set_random_seed(7)
    model = build_model(8, width=width)
    faces = to_model_input(generate("train", size=32, seed=3).images)
    return convert(model, "ptq", representative=lambda: ([faces[i:i + 1]] for i in range(len(faces))))


def _litert(data, reference):
    from ai_edge_litert.interpreter import Interpreter, OpResolverType

    kernels = OpResolverType.BUILTIN_REF if reference else OpResolverType.AUTO
    interpreter = Interpreter(model_content=data, experimental_op_resolver_type=kernels, num_threads=1)
    interpreter.allocate_tensors()
    source, target = interpreter.get_input_details()[0]["index"], interpreter.get_output_details()[0]["index"]

    def run(x):
        interpreter.set_tensor(source, x)
        interpreter.invoke()
        return interpreter.get_tensor(target).copy()
    return run


def _micro(data, arena):
    from lanmsff_edge.runtimes import micro

    interpreter = micro.load(data, arena)
    return lambda x: micro.invoke(interpreter, x)[0]


@click.command()
@click.option("--data", "data_path", default=None, help="FERPlus folder or archive (its val split is compared).")
@click.option("--slow-images", default=100, show_default=True,
              help="Inputs also compared on LiteRT's reference kernels and on TFLite Micro.")
@click.option("--json", "json_path", default=None)
def main(data_path, slow_images, json_path):
    from lanmsff_edge.artifacts import presets
    from lanmsff_edge.runtimes.parity import quantize_for
    from lanmsff_edge.data.common import to_model_input
    from lanmsff_edge.memory import fit
    from lanmsff_edge.tflite_graph import read_tflite

    models = {"ferplus:int8 (width 1)": Path(presets.resolve("ferplus", "int8")).read_bytes(),
              "untrained width 0.5": _width_model(0.5), "untrained width 0.25": _width_model(0.25)}
    faces = None
    if data_path:
        from lanmsff_edge import load_dataset

        faces = to_model_input(load_dataset("ferplus", data_path, split="val").images)
    report = []
    for name, data in models.items():
        graph = read_tflite(data)
        variants = [fit.variant(data, n) for n in range(1, 11)]
        base = variants[0]
        click.echo(f"\n{name}: unpatched arena {base.arena:,} B, {base.macs / 1e6:.1f} M MACs")
        for v in variants:
            click.echo(f"  {v.patches:2d} patches  arena {v.arena:9,} B  planned {v.planned_bytes:9,} B  "
                       f"MACs {v.macs / 1e6:7.1f} M ({100 * (v.macs - base.macs) / base.macs:+.1f} %)  "
                       f"{'; '.join(v.regions) or '-'}")
        for budget in (256 * 1024, 200 * 1024):
            fitting = [v for v in variants if fit.arena_with_margin(v.arena, fit.BUDGET_MARGIN) <= budget]
            click.echo(f"  fewest patches for {budget // 1024} KB: "
                       f"{fitting[0].patches if fitting else 'none'}")
        chosen = min(variants, key=lambda v: v.arena)
        x = graph.inputs[0]
        rng = np.random.default_rng(0)
        inputs = [rng.integers(-128, 128, (1, 64, 64, 1), dtype=np.int8) for _ in range(32)]
        inputs += [np.full((1, 64, 64, 1), v, np.int8) for v in (-128, 127)]
        if faces is not None:
            inputs += [quantize_for(x, face[None]) for face in faces]
        slow = inputs[:34 + slow_images]
        counts = {}
        for label, before, after, checked in (
                ("XNNPACK", _litert(data, False), _litert(chosen.data, False), inputs),
                ("reference kernels", _litert(data, True), _litert(chosen.data, True), slow),
                ("TFLM", _micro(data, base.arena), _micro(chosen.data, chosen.arena), slow)):
            counts[label] = (sum(not np.array_equal(before(i), after(i)) for i in checked), len(checked))
        click.echo(f"  identity at {chosen.patches} patches (inputs differing / compared; "
                   f"{0 if faces is None else len(faces)} FERPlus val faces among them): "
                   + ", ".join(f"{label} {n} / {total}" for label, (n, total) in counts.items()))
        report.append({"model": name, "variants": [v.as_dict(base.macs) for v in variants],
                       "identity": {"patches": chosen.patches,
                                    **{k: {"differing": n, "compared": t} for k, (n, t) in counts.items()}}})
    if json_path:
        Path(json_path).write_text(json.dumps(report, indent=2) + "\n")


if __name__ == "__main__":
    main()
