"""``quantize``: a trained ``model.keras`` → verified ``.tflite`` variants and a report of what each one cost.

Every variant is converted from the same float model (batch 1, static shapes), checked (integer variants must be
integer-only with the requested I/O and must run in TFLite Micro, or the run stops with a ``UserError``), and
measured with LiteRT on one split against the float Keras model.
"""
import json
import time
import warnings
from pathlib import Path

import numpy as np

from lanmsff_edge import native
from lanmsff_edge.atomic import artifact_group, write_bytes, write_text
from lanmsff_edge.errors import UserError
from lanmsff_edge.log import get_logger, quieted
from lanmsff_edge.quantize import converter as conversion
from lanmsff_edge.quantize import methods, qat, qat_checkpoint, report, verify
from lanmsff_edge.quantize.rewrite import relu_before_pool

ALL = methods.ALL
METHOD_CHOICES = methods.CHOICES
LANMSFF_PREFIXES = ("block1_", "block2_", "block3_", "block4_", "head_softmax")
MICRO_AGREEMENT_IMAGES = 64  # first images of the split on which TFLite Micro is compared with LiteRT
# Calibration cache beside OUT when $LANMSFF_CACHE is not set (not "calibration/": in the repository root that
# is the calibration package itself).
CACHE_FOLDER = "calibration_cache"
LOGGER = get_logger(__name__)


def check_lanmsff(model, source):
    """``UserError`` unless ``model`` looks like a LANMSFF (64×64×1 input, block1…block4 layers, softmax head)."""
    names = [layer.name for layer in model.layers]
    missing = [prefix for prefix in LANMSFF_PREFIXES if not any(name.startswith(prefix) for name in names)]
    if missing:
        raise UserError(f"{source} is not a LANMSFF model (no {', '.join(p.rstrip('_') for p in missing)} layers); "
                        "quantize takes a model made by `lanmsff-edge train`")
    if tuple(model.input_shape[1:]) != (64, 64, 1) or len(model.output_shape) != 2:
        raise UserError(f"{source}: expected a 64×64×1 input and one N×C output, found {model.input_shape} → "
                        f"{model.output_shape}")


def variant_paths(out, methods):
    """Where each variant goes: ``OUT`` for a single method; with several, ``OUT`` holds the QAT int8 model (the
    deliverable) and the others go beside it as ``<stem>_<method>.tflite``."""
    out = Path(out)
    if len(methods) == 1:
        return {methods[0]: out}
    return {method: out if method == "qat" else out.with_name(f"{out.stem}_{method}{out.suffix}")
            for method in methods}


def _forward_warnings(caught):
    from lanmsff_edge.calibration import CalibrationWarning

    for warning in caught:
        if issubclass(warning.category, CalibrationWarning):
            LOGGER.warning(f"Warning: {warning.message}")


def _load_split(dataset, data, split, fold, limit, num_classes):
    from lanmsff_edge.data import load_dataset

    images = load_dataset(dataset, data, split, fold=fold, limit=limit)
    if images.num_classes != num_classes:
        raise UserError(f"the model predicts {num_classes} classes but {dataset} has {images.num_classes} "
                        f"({', '.join(images.class_names)})")
    if len(images) == 0:
        raise UserError(f"{dataset} {split} has no images")
    return images


def describe(method, data, path, reference, inputs, images, params, io):
    """Convert-time checks and accuracy figures of one converted variant (a report row)."""
    from lanmsff_edge.runtimes.litert import LiteRTRuntime
    from lanmsff_edge.tflite_graph import read_tflite

    graph = read_tflite(data, source=str(path))
    integer = method in conversion.INTEGER_METHODS
    if integer:
        verify.check_integer(graph, io, source=f"the {method} model")
        tflm = verify.require_micro(data, source=f"the {method} model")
    else:
        tflm = verify.micro_check(data, source=f"the {method} model")
    model = LiteRTRuntime(data)
    probs = model.predict(inputs)
    row = {
        "method": method,
        "file": str(path),
        "size_bytes": len(data),
        "params": int(params),
        "ops": graph.op_names,
        "op_counts": graph.op_counts,
        "fully_integer": graph.fully_integer,
        "float_ops": [op.name for op in verify.float_ops(graph)],
        "requantize_ops": len(verify.requantize_ops(graph)),
        "input": report.tensor_io(graph.inputs[0]),
        "output": report.tensor_io(graph.outputs[0]),
        "tflm": tflm,
        "litert_backend": model.backend,
        "litert_kernels": model.kernels,
        "xnnpack_error": model.delegate_error,
        **report.prediction_row(probs, reference, images.labels, images.class_names, params),
    }
    if integer:
        row.update(kernel_agreement(data, model, inputs, tflm["arena_bytes"]))
    LOGGER.info(f"{method:<8} accuracy {100 * row['accuracy']:.2f}%  vs Keras {report.change_text(row['vs_keras'])}  "
        f"agreement {100 * row['agreement']:.2f}%  size {len(data) / 1024:.1f} KB")
    return row


def kernel_agreement(data, model, inputs, arena_bytes):
    """TFLite Micro against LiteRT on the first ``MICRO_AGREEMENT_IMAGES`` inputs (float model inputs): for an int8
    output the parity table of ``parity`` (XNNPACK, reference kernels, TFLite Micro; raw outputs, pairwise),
    else the largest difference in output steps (``verify.micro_agreement``)."""
    count = min(MICRO_AGREEMENT_IMAGES, len(inputs))
    if not np.issubdtype(model.output_dtype, np.integer):
        agreement = {kernels: verify.micro_agreement(data, inputs[:count], arena_bytes, kernels)
                     for kernels in ("reference", "auto")}
        return {"tflm_vs_litert_reference_max_steps": agreement["reference"],
                "tflm_vs_litert_default_max_steps": agreement["auto"], "tflm_vs_litert_images": count}
    from lanmsff_edge import parity

    with quieted(parity.__name__):  # a check of a few images: no per-backend progress notes
        result = parity.measure(data, [model.quantize_input(x[None]) for x in inputs[:count]])
    steps = {(pair["a"], pair["b"]): pair["max_abs_diff"] for pair in result.pairs}
    return {"parity": {"images": count, **result.to_dict()},
            "tflm_vs_litert_reference_max_steps": steps.get(("reference", "tflm")),
            "tflm_vs_litert_default_max_steps": steps.get(("xnnpack", "tflm")), "tflm_vs_litert_images": count}


def _check_options(method, io, epochs, calibration_size, out):
    if method not in METHOD_CHOICES:
        raise UserError(f"unknown method {method!r}: choose one of {', '.join(METHOD_CHOICES)}")
    if io not in conversion.IO_TYPES:
        raise UserError(f"unknown --io {io!r}: choose one of {', '.join(conversion.IO_TYPES)}")
    if int(epochs) < 0:
        raise UserError(f"--epochs must be 0 or more, got {epochs}")
    if int(calibration_size) < 1:
        raise UserError(f"--calibration-size must be at least 1, got {calibration_size}")
    if Path(out).suffix != ".tflite":
        raise UserError(f"--out {out}: the output file must end in .tflite")


def _load_float_model(model_path, dataset):
    """(model, its path, the data set, the run's config.json) — the data set is the run's unless given; the
    config is {} for a model outside a training run."""
    from lanmsff_edge.artifacts.reference import resolve_model_path, run_config
    from lanmsff_edge.model import load_model

    model_path = resolve_model_path(model_path)
    model = load_model(model_path)
    check_lanmsff(model, model_path)
    config = run_config(model_path)
    dataset = dataset or config.get("dataset")
    if not dataset:
        raise UserError(f"--dataset is needed: {model_path} has no training run config.json naming its data set")
    return model, model_path, dataset, config


def _calibration(float_model, dataset, data, size, seed, fold, limit, train, out, cache_dir):
    """The representative sample (through the cache), its summary, and the text of ``<stem>.calibration.json`` (its
    activation ranges), which is written with the models it calibrated."""
    from lanmsff_edge.calibration import activation_ranges, load_sample, model_inputs

    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        sample, cached = load_sample(dataset, data, "train", size, seed, fold, limit,
                                     directory=cache_dir or out.parent / CACHE_FOLDER, images=train)
    _forward_warnings(caught)
    path = out.with_name(f"{out.stem}.calibration.json")
    poses = None if sample.poses is None else dict(zip(*np.unique(sample.poses.astype(str), return_counts=True)))
    summary = {"size": len(sample), "requested": size, "seed": seed, "split": "train",
               "class_counts": dict(zip(sample.class_names, sample.class_counts().tolist())),
               "pose_counts": None if poses is None else {str(k): int(v) for k, v in poses.items()},
               "cache": None if cached is None else str(cached)}
    ranges = activation_ranges(float_model, model_inputs(sample))
    record = json.dumps({"dataset": dataset, **summary, "activation_ranges": ranges}, indent=1) + "\n"
    return sample, {**summary, "ranges": str(path)}, record


def quantize(model_path, dataset=None, data=None, method="qat", out="model_int8.tflite", epochs=qat.DEFAULT_EPOCHS,
             learning_rate=qat.DEFAULT_LEARNING_RATE, batch_size=32, calibration_size=None, io="int8",
             split="val", fold=None, limit=None, seed=0, cache_dir=None, augment=None, resume=False):
    """Convert ``model_path`` with ``method`` (one of ``METHOD_CHOICES``), write the ``.tflite`` file(s) and
    ``OUT.json`` (plus ``OUT.md`` for ``all``); returns the report dict (``table``: the Markdown table).

    dataset/data/fold/limit: as ``load_dataset``'s (dataset, data and fold default to the training run's); split: where
    accuracy is measured; QAT fine-tunes on train and keeps the epoch with the best val accuracy;
    calibration_size: images in the representative sample (default 500, train split, used by ptq and to start
    the QAT ranges); cache_dir: calibration cache folder (default ``$LANMSFF_CACHE/calibration`` or
    ``calibration_cache/`` beside OUT); augment: QAT's augmentation (default: the training run's, else "online").
    """
    from lanmsff_edge.artifacts.reference import run_data_defaults
    from lanmsff_edge.calibration import DEFAULT_SIZE, representative_dataset

    calibration_size = DEFAULT_SIZE if calibration_size is None else int(calibration_size)
    _check_options(method, io, epochs, calibration_size, out)
    out = Path(out)
    methods = list(conversion.METHODS) if method == ALL else [method]

    float_model, model_path, dataset, config = _load_float_model(model_path, dataset)
    data, fold = run_data_defaults(config, dataset, data, fold)
    trained_with = config.get("options", {}) if config.get("dataset") == dataset else {}
    augment = augment or trained_with.get("augment") or "online"
    targets = trained_with.get("targets") or "majority"  # a votes-trained run fine-tunes on the votes too
    tuning = None  # qat.fine_tune's options, the checkpoint to resume from among them
    if "qat" in methods:
        tuning = _qat_tuning(float_model, out, resume, dataset=dataset, data=data, fold=fold, limit=limit, seed=seed,
                             epochs=epochs, learning_rate=learning_rate, batch_size=batch_size, augment=augment,
                             targets=targets, calibration_size=calibration_size)
    split_data = _SplitData(float_model, dataset, data, fold, limit)
    images = split_data.load(split)
    result = _float_reference(float_model, model_path, images, split_data, split, io)

    train = sample = representative = None
    artifacts = {}  # path → bytes or text: written together at the end
    if set(methods) & set(conversion.INTEGER_METHODS):
        train = split_data.load("train")
        sample, result["calibration"], record = _calibration(float_model, dataset, data, calibration_size, seed,
                                                             fold, limit, train, out, cache_dir)
        artifacts[Path(result["calibration"]["ranges"])] = record
        representative = representative_dataset(sample)

    paths = variant_paths(out, methods)
    rewritten = relu_before_pool(float_model)
    for name in methods:
        with native.phase(f"quantizing {model_path} ({name})"):  # named if native code crashes
            started, notes = time.perf_counter(), {}
            if name == "qat":
                val = images if split == "val" else split_data.load("val")
                result["qat"], flatbuffer = _fine_tune_and_convert(float_model, train, val, sample, representative,
                                                                   tuning, split_data, images, split, io)
            else:
                flatbuffer = conversion.convert(rewritten, name, representative=representative, io=io, info=notes)
            seconds = time.perf_counter() - started
            row = describe(name, flatbuffer, paths[name], split_data.reference, split_data.inputs, images,
                           split_data.params, io)
            row.update(notes, seconds=round(seconds, 2))
            _note_widened_ranges(name, notes.get("widened_ranges") or (result["qat"]["widened_ranges"]
                                                                        if name == "qat" else []))
            artifacts[paths[name]] = flatbuffer
            result["variants"].append(row)

    table = _write_reports(result, artifacts, out, method)
    if tuning is not None:
        tuning["checkpoint_path"].unlink(missing_ok=True)  # its model is written: nothing to resume
    result["table"] = table
    return result


class _SplitData:
    """Splits of the data set the float model is measured on; ``inputs`` and ``reference`` (the float model's
    outputs) are of the evaluation split, once ``_float_reference`` has run."""

    def __init__(self, float_model, dataset, data, fold, limit):
        from lanmsff_edge.model import model_summary

        self.dataset, self.data, self.fold, self.limit = dataset, data, fold, limit
        self.num_classes = int(float_model.output_shape[-1])
        self.params = model_summary(float_model)["params"]
        self.inputs = self.reference = None

    def load(self, split):
        return _load_split(self.dataset, self.data, split, self.fold, self.limit, self.num_classes)

    def row(self, probs, images):
        """A report row's prediction figures against the float model's outputs."""
        return report.prediction_row(probs, self.reference, images.labels, images.class_names, self.params)


def _qat_tuning(float_model, out, resume, *, dataset, data, fold, limit, seed, epochs, learning_rate, batch_size,
                augment, targets, calibration_size):
    """``qat.fine_tune``'s options: the settings a resumed checkpoint must match and the checkpoint itself
    (``resume_from``: None for a fresh start; a checkpoint with other settings is refused here, before any data
    is loaded)."""
    saved_at = qat_checkpoint.checkpoint_path(out)
    settings = {"model_weights_sha256": qat_checkpoint.weights_digest(float_model), "dataset": dataset,
                "data": None if data is None else Path(data).name, "fold": fold, "limit": limit, "seed": seed,
                "learning_rate": float(learning_rate), "batch_size": int(batch_size), "augment": augment,
                "calibration_size": calibration_size}
    if targets != "majority":  # (checkpoints of majority runs, from before this setting, still resume)
        settings["targets"] = targets
    resume_from = qat_checkpoint.open_for(saved_at, resume, settings, epochs)
    if resume and resume_from is None:
        LOGGER.info(f"qat      no checkpoint {saved_at} to resume: starting at epoch 1")
    return {"epochs": epochs, "learning_rate": learning_rate, "batch_size": batch_size, "seed": seed,
            "augment": augment, "soft_targets": targets == "votes", "checkpoint_path": saved_at,
            "resume_from": resume_from, "settings": settings}


def _float_reference(float_model, model_path, images, split_data, split, io):
    """The report's skeleton with the float Keras model's own row (the reference every variant is compared to);
    sets ``split_data.inputs`` and ``.reference``."""
    from lanmsff_edge.calibration import model_inputs
    from lanmsff_edge.runtimes import open_runtime, predict_faces

    dataset, params = split_data.dataset, split_data.params
    split_data.inputs = model_inputs(images)
    split_data.reference = predict_faces(open_runtime(float_model), images.images)
    data = split_data.data
    result = {"model": str(model_path), "dataset": dataset, "data": None if data is None else str(data),
              "split": split, "fold": split_data.fold, "limit": split_data.limit, "images": len(images),
              "skipped": int(images.skipped), "io": io,
              "class_names": list(images.class_names),
              "reference": {"method": "keras", "file": str(model_path), "size_bytes": model_path.stat().st_size,
                            "params": params, **split_data.row(split_data.reference, images)},
              "variants": []}
    LOGGER.info(f"keras    accuracy {100 * result['reference']['accuracy']:.2f}% on {dataset} {split} "
                f"({len(images)} images{f', {images.skipped} undecodable left out' if images.skipped else ''})")
    return result


def _fine_tune_and_convert(float_model, train, val, sample, representative, tuning, split_data, images, split, io):
    """QAT: fine-tune a quantization-aware copy on ``train`` (best epoch on ``val``), measure its weights in
    float, convert it; returns (the report's ``qat`` record, the flatbuffer)."""
    from lanmsff_edge.calibration import model_inputs
    from lanmsff_edge.runtimes import open_runtime, predict_faces

    resume_from, saved_at = tuning["resume_from"], tuning["checkpoint_path"]
    done = 0 if resume_from is None else resume_from.epoch
    LOGGER.info(f"qat      fine-tuning {tuning['epochs']} epoch(s) on {len(train)} {split_data.dataset} train images"
                + (f", resuming after epoch {done}" if resume_from is not None else ""))
    aware = qat.quantize_aware_model(float_model)
    ranges = qat.calibrate_ranges(aware, model_inputs(sample))
    try:
        tuned = qat.fine_tune(aware, train, val, announce=True, verbose=1, **tuning)
    except KeyboardInterrupt:
        if saved_at.exists():
            LOGGER.info(f"\nqat      interrupted; finished epochs are in {saved_at}")
        raise
    record = {**tuned, "selected_on": "val", **ranges}
    tuned = predict_faces(open_runtime(qat.float_model_of(aware, float_model)), images.images)
    record["fine_tuned_float"] = split_data.row(tuned, images)
    LOGGER.info(f"qat      fine-tuned weights in float: accuracy "
                f"{100 * record['fine_tuned_float']['accuracy']:.2f}% on {split_data.dataset} {split}")
    # the sample also calibrates any tensor left without a trained range (a TRANSPOSE_CONV whose bias is
    # exactly 0 loses its fused ReLU, and with it the range, in conversion); trained ranges are kept
    return record, conversion.convert(aware, "qat", representative=representative, io=io)


def _note_widened_ranges(name, widened):
    widened = list(dict.fromkeys(tensor.split(";")[0] for tensor in widened))  # fused-op names are long
    if widened:
        LOGGER.info(f"{name:<8} {len(widened)} tensor(s) constant on the calibration sample (dead ReLU path?), "
                    f"range widened to {conversion.MIN_RANGE:g}: {', '.join(widened[:3])}"
                    f"{' …' if len(widened) > 3 else ''}")


def _write_reports(result, artifacts, out, method):
    """Add the reports to ``artifacts`` and write them all in one artifact group; returns the Markdown table."""
    result["reports"] = [str(out.with_suffix(".json"))] + ([str(out.with_suffix(".md"))] if method == ALL else [])
    if "calibration" in result:
        result["reports"].append(result["calibration"]["ranges"])
    artifacts[out.with_suffix(".json")] = json.dumps(result, indent=1) + "\n"
    table = report.markdown_table(result)
    if method == ALL:
        artifacts[out.with_suffix(".md")] = table
    with artifact_group():  # the models, their reports and calibration record: all new, or all as they were
        for path, content in artifacts.items():
            (write_bytes if isinstance(content, bytes) else write_text)(path, content)
    return table
