"""Patch-based execution, measured: TFLM arena, planned activations and MACs per patch count, for LANMSFF and
public CNN architectures, and bit-identity of each model's smallest-arena variant with the unpatched one.

    python benchmarks/patch_memory.py [--data ../shared/data/ferplus.tar.gz] [--models all] [--counts 1,4,6,8,10]
                                      [--slow-images 20] [--json out.json]

Models: the bundled full-width FERPlus int8 LANMSFF; untrained width-0.5 / 0.25 LANMSFFs quantized (PTQ) on
synthetic faces; Keras MobileNetV1 α 0.25 at 96×96×3 (the MLPerf Tiny VWW architecture) and MobileNetV2 α 0.35
at 96 and 128 px, random weights, PTQ on four random batches. Arena and MACs depend only on the shapes and the
identity check only on the rewrite, so untrained weights measure both. Rows: the file unchanged, "plan
only" (ops reordered, offline memory plan, no patches), then each patch count. Arena: the smallest TFLM arena that
allocates on the host (64-bit, reference kernels); "TFLM data" is the arena less the activation plan (tensor and
op structs, per-channel quantization). Identity: 32 seeded random int8 inputs and the two constant extremes (plus
every FERPlus val face for the LANMSFFs with --data) through LiteRT's default (XNNPACK) kernels, the first
``--slow-images`` also through LiteRT's reference kernels and TFLite Micro.
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


def _public_model(architecture, size, alpha, classes=2):
    """A Keras application with random weights, batch 1, PTQ-converted to full int8 on random calibration."""
    from lanmsff_edge.keras import keras
    from lanmsff_edge.quantize.converter import convert

    keras.utils.set_random_seed(0)
    build = {"mobilenet_v1": keras.applications.MobileNet, "mobilenet_v2": keras.applications.MobileNetV2}
    inner = build[architecture](input_shape=(size, size, 3), alpha=alpha, weights=None, classes=classes)
    x = keras.Input((size, size, 3), batch_size=1)
    calibration = np.random.default_rng(0).uniform(-1, 1, (4, 1, size, size, 3)).astype(np.float32)
    return convert(keras.Model(x, inner(x)), "ptq", representative=lambda: ([c] for c in calibration))


MODELS = {
    "lanmsff": ("ferplus:int8 LANMSFF (width 1)", None),
    "lanmsff-0.5": ("LANMSFF width 0.5 (untrained)", lambda: _width_model(0.5)),
    "lanmsff-0.25": ("LANMSFF width 0.25 (untrained)", lambda: _width_model(0.25)),
    "mobilenet_v1": ("MobileNetV1 α0.25 96×96×3 (VWW)", lambda: _public_model("mobilenet_v1", 96, 0.25)),
    "mobilenet_v2-96": ("MobileNetV2 α0.35 96×96×3", lambda: _public_model("mobilenet_v2", 96, 0.35)),
    "mobilenet_v2-128": ("MobileNetV2 α0.35 128×128×3", lambda: _public_model("mobilenet_v2", 128, 0.35)),
}


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
@click.option("--models", default="all", show_default=True, help=f"Comma-separated: {', '.join(MODELS)}.")
@click.option("--counts", default="1,2,4,6,8,10", show_default=True, help="Patch counts to measure (1 first).")
@click.option("--slow-images", default=20, show_default=True,
              help="Inputs also compared on LiteRT's reference kernels and on TFLite Micro.")
@click.option("--json", "json_path", default=None)
def main(data_path, models, counts, slow_images, json_path):
    from lanmsff_edge.artifacts import presets
    from lanmsff_edge.data.common import to_model_input
    from lanmsff_edge.memory import fit
    from lanmsff_edge.runtimes.quantization import quantize_for
    from lanmsff_edge.tflite_graph import read_tflite

    chosen_keys = list(MODELS) if models == "all" else [k.strip() for k in models.split(",")]
    counts = sorted({int(c) for c in counts.split(",")} | {1})
    faces = None
    if data_path:
        from lanmsff_edge import load_dataset

        faces = to_model_input(load_dataset("ferplus", data_path, split="val").images)
    report = []
    for key in chosen_keys:
        name, build = MODELS[key]
        data = Path(presets.resolve("ferplus", "int8")).read_bytes() if build is None else build()
        variants = [fit.variant(data, 1)]
        for n in counts:
            try:
                variants.append(fit.variant(data, n, plan=True))
            except Exception as error:  # noqa: BLE001 - a count that cannot split is a result, not a crash
                click.echo(f"  {n} patches: {error}")
        base = variants[0]
        click.echo(f"\n{name}: unpatched arena {base.arena:,} B, {base.macs / 1e6:.1f} M MACs")
        for v in variants:
            activations = fit.activation_bytes(v)
            label = "unchanged" if not v.planned_bytes else ("plan only" if v.patches == 1
                                                         else f"{v.patches:2d} patches")
            click.echo(f"  {label:>10}  arena {v.arena:9,} B  activations {activations:9,} B  "
                       f"TFLM data {v.arena - activations:7,} B  MACs {v.macs / 1e6:7.1f} M "
                       f"({100 * (v.macs - base.macs) / base.macs:+.1f} %)  {'; '.join(v.regions) or '-'}")
        chosen = min(variants, key=lambda v: v.arena)
        x = read_tflite(data).inputs[0]
        shape = tuple(int(v) for v in x.shape)
        rng = np.random.default_rng(0)
        dtype = np.int8 if "int8" in str(x.dtype) else np.uint8
        inputs = [rng.integers(-128, 128, shape).astype(dtype) for _ in range(32)]
        inputs += [np.full(shape, v, dtype) for v in (-128, 127)]
        if faces is not None and key.startswith("lanmsff"):
            inputs += [quantize_for(x, face[None]) for face in faces]
        slow = inputs[:slow_images]
        counts_differing = {}
        for label, before, after, checked in (
                ("XNNPACK", _litert(data, False), _litert(chosen.data, False), inputs),
                ("reference kernels", _litert(data, True), _litert(chosen.data, True), slow),
                ("TFLM", _micro(data, base.arena), _micro(chosen.data, chosen.arena), slow)):
            counts_differing[label] = (sum(not np.array_equal(before(i), after(i)) for i in checked), len(checked))
        click.echo(f"  smallest arena: {chosen.patches} patches, {base.arena / chosen.arena:.2f}× lower arena, "
                   f"{fit.activation_bytes(base) / fit.activation_bytes(chosen):.2f}× lower activations, "
                   f"{100 * (chosen.macs - base.macs) / base.macs:+.1f} % MACs; identity (inputs differing / "
                   "compared): " + ", ".join(f"{label} {n} / {t}" for label, (n, t) in counts_differing.items()))
        report.append({"model": name, "variants": [{**v.as_dict(base.macs), "activation_bytes": fit.activation_bytes(v),
                                                    "offline_plan": bool(v.planned_bytes)} for v in variants],
                       "identity": {"patches": chosen.patches,
                                    **{k: {"differing": n, "compared": t} for k, (n, t) in counts_differing.items()}}})
    if json_path:
        Path(json_path).write_text(json.dumps(report, indent=2) + "\n")


if __name__ == "__main__":
    main()
