"""``lanmsff-edge bench --parity``: for each int8 model, its raw outputs under every parity backend on a data
set's split, one table row per pair of backends, and with ``trace`` where the kernels part (``bench.trace``).

    report = run_parity(["ferplus:int8"], dataset="ferplus", data="ferplus.tar.gz", split="val")
    print(format_parity(report)); write_parity_json(report, "parity.json")

Models: ``.tflite`` files with an integer output, as given; a ``.keras`` model is converted to int8 (PTQ, as the
bench converts it); float TFLite models are skipped with a note; a bundled model (``ferplus``, or no model given)
is its int8 file. Accuracy per backend is on the named split. Models that are no image classifiers (audio
features, dense models: ``bench.models`` tensor models) are compared without a data set, on ``limit`` (default
``RANDOM_INPUTS``) seeded random inputs of their own shape, with no accuracy.
"""
import hashlib
import json

import numpy as np

from lanmsff_edge import parity
from lanmsff_edge.atomic import write_text
from lanmsff_edge.errors import UserError
from lanmsff_edge.log import get_logger
from lanmsff_edge.runtimes.quantization import RULE as INPUT_RULE

LOGGER = get_logger(__name__)
RANDOM_INPUTS = 200


class _RandomInputs:
    """Stands for a data set when tensor models are compared: ``count`` placeholders (a tensor model's
    ``inputs`` makes seeded random inputs of its own shape from their number), no labels."""

    dataset, split, labels = "seeded random inputs", "of each model's own input shape", None

    def __init__(self, count):
        self.images = np.zeros((count, 1, 1), np.uint8)

    def __len__(self):
        return len(self.images)


def _model_paths(models, dataset):
    """``--model`` values as paths; a bundled pair (``ferplus``, or no ``--model``: the bundled models) stands for
    its int8 file only: its float model is no int8 model to compare (pass the .keras file to compare its PTQ)."""
    from lanmsff_edge.artifacts import presets
    from lanmsff_edge.bench.runner import bundled_models, expand_bundled

    if not models:
        paths = [path for path in bundled_models(dataset) if str(path).endswith(".tflite")]
        if not paths:
            raise UserError("no bundled int8 model; pass --model")
        return paths
    return [presets.require(str(model), "int8") if presets.is_pair_name(model) else expand_bundled([model])[0]
            for model in models]


def _int8_models(opened, dataset, data, images, fold, notes):
    from lanmsff_edge.bench.convert import expand_models

    models = []
    for model in expand_models(opened, dataset, data, images, ("int8",), fold):
        if model.is_keras:
            continue
        if not model.graph.outputs[0].quantized:
            notes.append(f"{model.name}: skipped, its output is {model.graph.outputs[0].dtype} (parity compares the "
                         f"raw outputs of integer models)")
            continue
        models.append(model)
    return models


def _accuracy(outputs, labels):
    if outputs is None or labels is None or not len(outputs):
        return None
    return float(np.mean(outputs.argmax(axis=1) == labels))


def run_parity(models=(), dataset=None, data=None, split="val", limit=None, fold=None,
               backends=parity.DEFAULT_BACKENDS, threads=1, trace=False, input_range="0,1", tflm=None):
    """The parity report (a JSON-ready dict) of ``models`` (paths or bundled names; none: the bundled ones) on
    ``dataset``'s ``split`` (first ``limit`` images), for the named ``backends``; ``trace`` adds the XNNPACK /
    reference-kernel trace of each model; ``tflm``: the TFLM tree of the backends built from one (``tflm-single``;
    None: ``$TFLM_DIR``)."""
    from lanmsff_edge.bench.host import host_info
    from lanmsff_edge.bench.measure import check_classes
    from lanmsff_edge.bench.models import open_models, parse_input_range
    from lanmsff_edge.bench.runner import load_data

    backends = parity.backend_names(",".join(backends))
    if dataset is None and not models:
        raise UserError("--parity needs --dataset (and --data): the images the kernels are compared on")
    paths = _model_paths(models, dataset)
    opened = open_models(paths, parse_input_range(input_range))
    if dataset is None:
        faces = [model.name for model in opened if not model.is_tensor_model]
        if faces:
            raise UserError(f"--parity needs --dataset (and --data) for image classifiers ({', '.join(faces)}): "
                            "the images the kernels are compared on")
        images = _RandomInputs(limit or RANDOM_INPUTS)
    else:
        images = load_data(dataset, data, split, limit, fold)
        if not len(images):
            raise UserError(f"{dataset} {split} has no images")
        for model in opened:
            check_classes(model, images)
    notes = []
    entries = [model_entry(model, images, backends, threads, trace, tflm)
               for model in _int8_models(opened, dataset, data, images.images, fold, notes)]
    if not entries:
        raise UserError("no integer model to compare (parity runs int8 .tflite models, or converts .keras ones)")
    return {"kind": "parity", "dataset": images.dataset, "split": images.split, "fold": fold, "images": len(images),
            "backends": list(backends), "threads": threads, "models": entries, "notes": notes,
            "input_quantization": INPUT_RULE,
            "host": host_info({"threads": threads})}


def model_entry(model, images, backends=parity.DEFAULT_BACKENDS, threads=1, trace=False, tflm=None):
    """The parity of one tflite ``BenchModel`` on ``images`` (``LabeledImages``): backends, pairs, accuracy per
    backend on that split, the model file's sha256, and with ``trace`` the XNNPACK / reference-kernel trace."""
    from lanmsff_edge.bench.trace import trace as trace_model

    LOGGER.info(f"{model.name}: parity on {len(images)} {images.dataset} {images.split} images")
    inputs = parity.raw_inputs(model, images.images)
    result = parity.measure(model.data, inputs, backends, threads, tflm=tflm)
    entry = {"model": model.name, "path": model.path, "sha256": hashlib.sha256(model.data).hexdigest(),
             "precision": model.precision, "notes": list(model.notes), **result.to_dict(),
             "accuracy": {name: _accuracy(value, images.labels) for name, value in result.outputs.items()}}
    if trace:
        # against the single-rounding TFLM when it is compared (what the firmware runs), else LiteRT's reference
        against = "tflm-single" if "tflm-single" in backends else "reference"
        LOGGER.info(f"{model.name}: tracing XNNPACK against {against}, op by op")
        entry["trace"] = trace_model(model.data, inputs, b=against, threads=threads, tflm=tflm)
    return entry


def _pair_cells(pair, images):
    if pair["max_abs_diff"] is None:
        return ["-"] * 5
    share = 100 * pair["images_differing"] / images
    return [f"{pair['max_abs_diff']:g}", f"{pair['images_differing']} ({share:.1f} %)",
            f"{100 * pair['top1_agreement']:.2f} %", str(pair["top1_differing"]),
            "-" if pair["top1_differing_max_margin"] is None else f"{pair['top1_differing_max_margin']} steps"]


PAIR_HEADER = ["model", "pair", "max diff (steps)", "images differing", "top-1 agreement", "top-1 differing",
               "their top-2 gap ≤"]


def pair_rows(report):
    """One row per pair at the output, then (models that end in a SOFTMAX) one per pair at the logits."""
    rows = []
    for entry in report["models"]:
        rows += [[entry["model"], f"{pair['a']} vs {pair['b']}", *_pair_cells(pair, report["images"])]
                 for pair in entry["pairs"]]
        logits = entry.get("logits")
        rows += [[entry["model"], f"{pair['a']} vs {pair['b']} (logits)", *_pair_cells(pair, report["images"])]
                 for pair in (logits or {}).get("pairs", [])]
    return rows


def _title(report):
    fold = f" fold {report['fold']}" if report.get("fold") else ""
    return (f"Kernel parity on {report['dataset']}{fold} {report['split']} ({report['images']} images): raw int8 "
            f"outputs of the same inputs, max |difference| in output quantization steps (at the logits: in logit "
            f"steps), {report['threads']} thread(s)")


def _backend_lines(report):
    lines = []
    for entry in report["models"]:
        for name, backend in entry["backends"].items():
            accuracy = entry["accuracy"].get(name)
            state = f"ERROR {backend['error']}" if backend["error"] else (
                "ok (no accuracy on random inputs)" if accuracy is None else
                f"accuracy {100 * accuracy:.2f} % on {report['dataset']} {report['split']}")
            lines.append(f"{entry['model']}: {name} = {backend['description']}: {state}")
    return lines


def trace_lines(trace):
    """The trace's findings in a few lines (the per-op rows are in the JSON)."""
    first, own = trace["first_differing_op"], trace["first_own_difference"]
    if first is None:
        return [f"trace ({trace['a']} vs {trace['b']}, {trace['images']} images): every intermediate tensor is "
                "identical"]
    lines = [f"trace ({trace['a']} vs {trace['b']}, {trace['images']} images; the {trace['a']} run with all tensors "
             f"kept equals its plain run on {trace['preserved_run_matches_plain']} of {trace['images']}):",
             f"  first differing op: #{first['index']} {first['name']} ({first['output']}), up to "
             f"{first['cumulative_max']} step(s)"]
    if own is not None:
        lines.append(f"  first op that differs by itself on identical inputs: #{own['index']} {own['name']}")
    kinds = [f"{name} {kind['ops_with_own_difference']}/{kind['ops']} (≤{kind['own_max']})"
             for name, kind in trace["by_kind"].items() if kind["ops_with_own_difference"]]
    lines.append("  ops that round differently by themselves (ops of the kind, own max steps): " + ", ".join(kinds))
    growth = trace["growth"]
    for label, key in (("largest intermediate difference", "largest_intermediate"),
                       ("at the op feeding the output", "output_input"), ("at the output", "output")):
        row = growth[key]
        if row is not None:
            dead = "; every op reading it is dead" if row.get("consumers_dead") else ""
            lines.append(f"  {label}: {row['cumulative_max']} step(s) of {row['scale']:.3g} (#{row['index']} "
                         f"{row['name']}{dead})")
    gains = [row for row in trace["ops"] if row.get("steps_per_input_step") and row["cumulative_max"]]
    for row in gains[-1:]:
        lines.append(f"  #{row['index']} {row['name']} can move its output by up to {row['steps_per_input_step']:.1f} "
                     f"steps per input step (slope bound × input scale / output scale)")
    if trace["dead_ops"]:
        lines.append(f"  constant on every traced image (dead path; no difference possible): ops "
                     f"{', '.join('#' + str(i) for i in trace['dead_ops'])}")
    rounding = trace["rounding"]
    if rounding.get("elements"):
        a, b = trace["a"], trace["b"]
        lines.append(f"  why (CONV_2D / DEPTHWISE_CONV_2D / FULLY_CONNECTED, first {rounding['images']} images): "
                     f"{rounding['elements']} differing elements: {rounding.get('tie', 0)} exact ties, "
                     f"{rounding.get(f'{b}_off', 0)} where {b} is not the correctly rounded value "
                     f"({rounding.get(f'{b}_off_double_rounding', 0)} in its double-rounding window), "
                     f"{rounding.get(f'{a}_off', 0)} where {a} is not, {rounding.get('both_off', 0)} neither")
    return lines + [f"  note: {note}" for note in trace["notes"]]


def _lines(report, table):
    lines = [_title(report), ""] + table(PAIR_HEADER, pair_rows(report)) + [""] + _backend_lines(report)
    for entry in report["models"]:
        if "trace" in entry:
            lines += ["", f"{entry['model']}:"] + trace_lines(entry["trace"])
        lines += [f"{entry['model']}: {note}" for note in entry["notes"]]
    return lines + [f"note: {note}" for note in report["notes"]]


def format_parity(report):
    from lanmsff_edge.bench.report import _text_table

    return "\n".join(_lines(report, _text_table))


def parity_markdown(report):
    from lanmsff_edge.bench.report import _markdown_table

    return "\n".join(_lines(report, _markdown_table)) + "\n"


def write_parity_json(report, path):
    write_text(path, json.dumps(report, indent=1, ensure_ascii=False) + "\n")


def write_parity_markdown(report, path):
    write_text(path, parity_markdown(report))
