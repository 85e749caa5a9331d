"""The paper's metrics (IV.B) for any model that maps images to class probabilities.

``metrics_from_predictions`` is the pure core: labels + probabilities (+ poses, + parameter count) → accuracy,
per-class accuracy, the row-normalised confusion matrix in % (rows = actual, as the paper's Tables III/V/VIII),
information density ID = accuracy(%) / params(millions), per-pose accuracy and the pose variance Var.
Every tool that measures accuracy (evaluate, quantize reports, bench) goes through it, whatever ran the model.

Var is the population variance (ddof=0) of the per-pose accuracies in percent: with it the paper's Table XI
is reproduced exactly (LANMSFF 86.92/84.68/86.96 → 1.13, RAN 14.23, CERN 1.88, VTFF 0.45). With pose lists
(Pose-FERPlus >30°, >45°), the whole split is a third group, "overall", as in Table XI.

``evaluate`` wraps it for Keras models and run folders; a ``Predictor`` (images → probabilities) lets other
runtimes (LiteRT, TFLite Micro) plug in. Several models (e.g. the five KDEF fold runs) give a mean.
"""
import json
import math
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

import numpy as np

from lanmsff_edge.errors import UserError

OVERALL = "overall"
PREDICT_CHUNK = 1024  # images converted to float at once: bounds memory on big splits


# --------------------------------------------------------------------------------------------- pure metrics

def _pose_order(pose):
    """Numeric poses ("-90", "+45", "0") in angle order, named groups after them in their given order."""
    try:
        return (0, float(str(pose).rstrip("°")), "")
    except ValueError:
        return (1, 0.0, "")


def confusion_counts(labels, predictions, num_classes):
    """C×C integer matrix, rows = actual class, columns = predicted class."""
    matrix = np.zeros((num_classes, num_classes), dtype=np.int64)
    np.add.at(matrix, (np.asarray(labels, dtype=np.int64), np.asarray(predictions, dtype=np.int64)), 1)
    return matrix


def row_percent(counts):
    """Each row as % of its total (a class with no images → a row of zeros)."""
    counts = np.asarray(counts, dtype=np.float64)
    totals = counts.sum(axis=1, keepdims=True)
    return np.where(totals > 0, 100.0 * counts / np.where(totals > 0, totals, 1.0), 0.0)


def information_density(accuracy, params):
    """ID = accuracy in % per million parameters (the paper's definition); None without a parameter count."""
    if not params:
        return None
    return 100.0 * float(accuracy) / (float(params) / 1e6)


def _predicted(probs, num_classes):
    probs = np.asarray(probs)
    if probs.ndim == 2 and probs.shape[1] != num_classes:
        raise UserError(f"the model predicts {probs.shape[1]} classes but the data set has {num_classes}")
    return probs.argmax(axis=1) if probs.ndim == 2 else probs.astype(np.int64)


def metrics_from_predictions(labels, probs, class_names, poses=None, params=None, subsets=None):
    """All evaluation metrics from one prediction set; returns a JSON-ready dict.

    labels: (N,) int class indices; probs: (N, C) scores (argmax is the prediction) or (N,) predicted indices;
    poses: optional (N,) per-image pose tags that partition the set (KDEF angles) — None entries are ignored;
    subsets: optional {name: (labels, probs)} of separately predicted pose subsets (Pose-FERPlus lists, which
    overlap); their accuracies and the whole set's, as "overall", make the pose metrics (paper Table XI);
    params: the model's parameter count (for ID).
    """
    if poses is not None and subsets:
        raise ValueError("give per-image poses or pose subsets, not both: they make different variances")
    labels = np.asarray(labels, dtype=np.int64)
    num_classes = len(class_names)
    predictions = _predicted(probs, num_classes)
    if len(predictions) != len(labels):
        raise ValueError(f"{len(predictions)} predictions for {len(labels)} labels")
    if len(labels) == 0:
        raise UserError("no images to evaluate (the split is empty)")
    correct = predictions == labels
    accuracy = float(correct.mean())
    counts = confusion_counts(labels, predictions, num_classes)
    support = counts.sum(axis=1)
    per_class = {name: (float(counts[i, i] / support[i]) if support[i] else None)
                 for i, name in enumerate(class_names)}

    pose_accuracy, pose_size = {}, {}
    if poses is not None:
        poses = np.asarray(poses, dtype=object)
        known = [p for p in dict.fromkeys(poses.tolist()) if p is not None]
        for pose in sorted(known, key=_pose_order):
            mask = poses == pose
            pose_accuracy[str(pose)], pose_size[str(pose)] = float(correct[mask].mean()), int(mask.sum())
    for name, (subset_labels, subset_probs) in (subsets or {}).items():
        subset_labels = np.asarray(subset_labels, dtype=np.int64)
        if len(subset_labels):
            hits = _predicted(subset_probs, num_classes) == subset_labels
            pose_accuracy[str(name)], pose_size[str(name)] = float(hits.mean()), len(subset_labels)
    if subsets:
        pose_accuracy[OVERALL], pose_size[OVERALL] = accuracy, len(labels)
    pose_variance = (float(np.var([100.0 * a for a in pose_accuracy.values()]))
                     if len(pose_accuracy) >= 2 else None)

    return {
        "size": int(len(labels)),
        "correct": int(correct.sum()),
        "accuracy": accuracy,
        "params": None if params is None else int(params),
        "information_density": information_density(accuracy, params),
        "class_names": list(class_names),
        "support": {name: int(n) for name, n in zip(class_names, support)},
        "per_class_accuracy": per_class,
        "confusion_matrix": counts.tolist(),
        "confusion_matrix_percent": np.round(row_percent(counts), 4).tolist(),
        "pose_accuracy": pose_accuracy or None,
        "pose_size": pose_size or None,
        "pose_variance": pose_variance,
    }


# ------------------------------------------------------------------------------------------------ predictors

@dataclass
class Predictor:
    """Anything that classifies faces: uint8 (N, 64, 64) images → (N, C) probabilities.

    ``params`` is the parameter count used for ID (None when the runtime cannot tell). Runtimes other than
    Keras (LiteRT, TFLite Micro) build one of these and pass it to ``evaluate``.
    """

    predict: Callable[[np.ndarray], np.ndarray]
    num_classes: int
    params: int | None = None
    name: str = "model"


def keras_predictor(model, batch_size=64, name=None):
    """A ``Predictor`` around a Keras model; inputs go through ``to_model_input`` in bounded chunks."""
    from lanmsff_edge.data.common import to_model_input

    def predict(images):
        outputs = []
        for start in range(0, len(images), PREDICT_CHUNK):
            batch = to_model_input(images[start:start + PREDICT_CHUNK])
            outputs.append(model.predict(batch, batch_size=batch_size, verbose=0))
        return np.concatenate(outputs) if outputs else np.zeros((0, model.output_shape[-1]), np.float32)

    return Predictor(predict, int(model.output_shape[-1]), int(model.count_params()), name or model.name)


def resolve_model_path(path):
    """A model file, or a run folder (→ its model.keras; an unfinished run's best weights so far →
    best.keras, with a note on stderr). Missing → ``UserError``."""
    path = Path(path)
    if path.is_dir():
        candidate = path / "model.keras"
        if candidate.exists():
            return candidate
        if not (path / "checkpoint.npz").exists():
            raise UserError(f"{path} is a folder without model.keras or checkpoint.npz (not a training run?)")
        from lanmsff_edge.training.best import best_so_far

        candidate, best_epoch, epochs = best_so_far(path)
        print(f"note: {path} is an unfinished training run: using its best weights so far (epoch {best_epoch} of "
              f"{epochs}), {candidate}", file=sys.stderr)
        return candidate
    if not path.exists():
        raise UserError(f"model file not found: {path}")
    return path


def run_config(model_path):
    """The config.json of the training run a model file belongs to, or {} when there is none."""
    config = Path(model_path).parent / "config.json"
    if not config.exists():
        return {}
    try:
        return json.loads(config.read_text())
    except (OSError, ValueError):
        return {}


def run_data_defaults(config, dataset, data=None, fold=None):
    """(data, fold) for ``dataset``: the ones given, else the training run's when ``config`` trained on it."""
    if config.get("dataset") != dataset:
        return data, fold
    return (data if data is not None else config.get("data"), fold if fold is not None else config.get("fold"))


def load_predictor(model, batch_size=64):
    """A ``Predictor`` from a Keras model, a ``Predictor``, a ``.keras`` file / run folder, or a ``.tflite`` file.

    ``.tflite`` files are delegated to ``lanmsff_edge.runtimes.litert.load_predictor`` (the LiteRT runtime).
    """
    if isinstance(model, Predictor):
        return model
    if hasattr(model, "predict") and hasattr(model, "output_shape"):
        return keras_predictor(model, batch_size)
    path = resolve_model_path(model)
    if path.suffix == ".tflite":
        try:
            from lanmsff_edge.runtimes.litert import load_predictor as litert_predictor
        except ImportError:
            raise UserError(f"cannot evaluate {path}: the LiteRT runtime (lanmsff_edge.runtimes.litert) "
                            "is not available in this installation") from None
        return litert_predictor(path)
    from lanmsff_edge.model import load_model

    return keras_predictor(load_model(path), batch_size, name=str(path))


# ------------------------------------------------------------------------------------------------ evaluation

def _pose_tags(images):
    """Per-image poses (KDEF angles, or pose-list names) of a loaded split, or None when none are known."""
    poses = getattr(images, "poses", None)
    if poses is None:
        return None
    poses = np.asarray(poses, dtype=object)
    return poses if any(p is not None for p in poses.tolist()) else None


def evaluate(model_or_path, dataset=None, data=None, split="val", pose_lists=(), fold=None, json_path=None,
             confusion_path=None, batch_size=64, limit=None, pose_images=None, verbose=False):
    """Evaluate a model on one split with the paper's metrics; returns the metrics dict.

    model_or_path: Keras model, ``Predictor``, ``.keras``/``.tflite`` file or a training run folder.
    dataset: a data set name (loaded with ``load_dataset``) or an already loaded ``LabeledImages``; with a run
    folder it defaults to the run's data set (and ``data``/``fold`` to the run's). KDEF needs a fold: ``fold``
    or the run's. ``pose_lists`` (RAN's files) — or ``pose_images``, their loaded images — give the accuracy on
    each pose subset next to the whole split's ("overall") and their variance (they replace per-image poses).
    Writes ``json_path`` and a confusion-matrix PNG ``confusion_path`` when given; ``verbose`` prints a report.
    """
    config, model_name = {}, None
    if isinstance(model_or_path, (str, Path)):
        model_or_path = resolve_model_path(model_or_path)
        config, model_name = run_config(model_or_path), str(model_or_path)
    if dataset is None or isinstance(dataset, str):
        dataset = dataset or config.get("dataset")
        if dataset is None:
            raise UserError("name the data set (--dataset): the model is not inside a training run folder")
        data, fold = run_data_defaults(config, dataset, data, fold)
        images = _load_split(dataset, data, split, fold, (), limit)
        if pose_lists:
            pose_images = _load_split(dataset, data, split, fold, pose_lists, limit)
    else:
        images = dataset
    predictor = load_predictor(model_or_path, batch_size)
    if predictor.num_classes != images.num_classes:
        raise UserError(f"model {model_name or predictor.name} has {predictor.num_classes} classes but data set "
                        f"{images.dataset} has {images.num_classes} ({', '.join(images.class_names)})")
    probs = predictor.predict(images.images)
    subsets = None
    if pose_images is not None and len(pose_images):
        pose_probs = predictor.predict(pose_images.images)
        tags = np.asarray(pose_images.poses, dtype=object)
        subsets = {str(tag): (pose_images.labels[tags == tag], pose_probs[tags == tag])
                   for tag in dict.fromkeys(tags.tolist())}
    metrics = {
        "model": model_name or predictor.name,
        "dataset": images.dataset,
        "split": images.split,
        "fold": fold,
        "skipped": int(images.skipped),
        **metrics_from_predictions(images.labels, probs, images.class_names, poses=None if subsets else _pose_tags(images),
                                   params=predictor.params, subsets=subsets),
    }
    if verbose:
        print(format_report(metrics))
    if json_path:
        from lanmsff_edge.atomic import write_text

        write_text(json_path, json.dumps(metrics, indent=2) + "\n")
    if confusion_path:
        from lanmsff_edge.plots import save_confusion_png

        save_confusion_png(metrics["confusion_matrix_percent"], metrics["class_names"], confusion_path,
                           title=confusion_title(metrics), counts=list(metrics["support"].values()))
    return metrics


def _load_split(dataset, data, split, fold, pose_lists, limit):
    from lanmsff_edge.data import load_dataset

    if dataset == "kdef" and fold is None:
        raise UserError("KDEF is evaluated per cross-validation fold: give --fold K (1-5), or a model from a "
                        "training run (its config.json names the fold)")
    return load_dataset(dataset, data, split=split, fold=fold, pose_lists=tuple(pose_lists), limit=limit)


def evaluate_many(models, dataset=None, **options):
    """Evaluate several models (e.g. the five KDEF fold runs) and add the mean: the k-fold CV figure.

    Each model uses its own run's fold unless ``fold`` is given. Returns {"runs": [...], "mean": {...}}.
    """
    json_path = options.pop("json_path", None)
    confusion_path = options.pop("confusion_path", None)
    verbose = options.pop("verbose", False)
    runs = []
    for model in models:
        metrics = evaluate(model, dataset, **options)
        if verbose:
            print(format_report(metrics))
            print()
        runs.append(metrics)
    summary = {"runs": runs, "mean": mean_metrics(runs)}
    if verbose:
        print(format_mean(summary["mean"]))
    if json_path:
        from lanmsff_edge.atomic import write_text

        write_text(json_path, json.dumps(summary, indent=2) + "\n")
    if confusion_path:
        from lanmsff_edge.plots import save_confusion_png

        mean = summary["mean"]
        save_confusion_png(mean["confusion_matrix_percent"], mean["class_names"], confusion_path,
                           title=f"{mean['dataset']} {mean['split']}, {len(runs)} models pooled",
                           counts=list(mean["support"].values()))
    return summary


def mean_metrics(runs):
    """Mean (and spread) of accuracy, ID and Var over runs; the confusion matrix pooled over all images."""
    accuracies = [run["accuracy"] for run in runs]
    pooled = np.sum([np.asarray(run["confusion_matrix"]) for run in runs], axis=0)
    class_names = runs[0]["class_names"]

    def mean_of(key):
        values = [run[key] for run in runs if run.get(key) is not None]
        return float(np.mean(values)) if values else None

    pose_names = list(dict.fromkeys(name for run in runs for name in (run.get("pose_accuracy") or {})))
    pose_accuracy = {name: float(np.mean([run["pose_accuracy"][name] for run in runs
                                          if name in (run.get("pose_accuracy") or {})]))
                     for name in pose_names}
    return {
        "models": len(runs),
        "dataset": runs[0]["dataset"],
        "split": runs[0]["split"],
        "folds": [run.get("fold") for run in runs],
        "size": int(sum(run["size"] for run in runs)),
        "accuracy": float(np.mean(accuracies)),
        "accuracy_std": float(np.std(accuracies)),
        "params": runs[0].get("params"),
        "information_density": mean_of("information_density"),
        "pose_accuracy": pose_accuracy or None,
        "pose_variance": mean_of("pose_variance"),
        "pose_variance_of_mean": (float(np.var([100 * a for a in pose_accuracy.values()]))
                                  if len(pose_accuracy) >= 2 else None),
        "class_names": class_names,
        "support": {name: int(n) for name, n in zip(class_names, pooled.sum(axis=1))},
        "confusion_matrix": pooled.tolist(),
        "confusion_matrix_percent": np.round(row_percent(pooled), 4).tolist(),
    }


# ------------------------------------------------------------------------------------------------- reporting

def confusion_title(metrics):
    fold = f" fold {metrics['fold']}" if metrics.get("fold") is not None else ""
    return f"{metrics['dataset']} {metrics['split']}{fold}: accuracy {100 * metrics['accuracy']:.2f} %"


def _fmt(value, spec, missing="-"):
    return missing if value is None or (isinstance(value, float) and math.isnan(value)) else format(value, spec)


def format_confusion(percent, class_names):
    """The paper's table layout: one row per actual class, % of that row per predicted class."""
    short = [name[:7] for name in class_names]
    lines = ["confusion matrix, % of actual class (rows = actual, columns = predicted)",
             f"{'':<10}" + "".join(f"{name:>8}" for name in short)]
    for name, row in zip(class_names, percent):
        lines.append(f"{name[:10]:<10}" + "".join(f"{value:8.2f}" for value in row))
    return "\n".join(lines)


def format_report(metrics):
    """A human-readable report of one evaluation."""
    fold = f" fold {metrics['fold']}" if metrics.get("fold") is not None else ""
    lines = [
        f"{metrics['dataset']} {metrics['split']}{fold}: {metrics['size']:,} images "
        f"({metrics['skipped']} skipped), model {metrics['model']}",
        f"accuracy             {100 * metrics['accuracy']:.2f} %  ({metrics['correct']:,} / {metrics['size']:,})",
        f"params               {_fmt(metrics['params'], ',')}",
        f"information density  {_fmt(metrics['information_density'], '.1f')}  (accuracy % per million parameters)",
        "",
        f"{'class':<12}{'acc %':>8}{'images':>8}",
    ]
    for name in metrics["class_names"]:
        accuracy = metrics["per_class_accuracy"][name]
        lines.append(f"{name:<12}{_fmt(None if accuracy is None else 100 * accuracy, '8.2f', '       -')}"
                     f"{metrics['support'][name]:>8}")
    lines += ["", format_confusion(metrics["confusion_matrix_percent"], metrics["class_names"])]
    if metrics.get("pose_accuracy"):
        lines += ["", f"{'pose':<12}{'acc %':>8}{'images':>8}"]
        for name, accuracy in metrics["pose_accuracy"].items():
            lines.append(f"{name:<12}{100 * accuracy:8.2f}{metrics['pose_size'][name]:>8}")
        lines.append(f"pose variance (Var)  {_fmt(metrics['pose_variance'], '.2f')}")
    return "\n".join(lines)


def format_mean(mean):
    """The summary line block for several models (k-fold cross-validation)."""
    folds = [f for f in mean["folds"] if f is not None]
    what = f"{mean['models']} models" + (f" (folds {', '.join(map(str, folds))})" if folds else "")
    lines = [
        f"mean over {what}, {mean['dataset']} {mean['split']}",
        f"accuracy             {100 * mean['accuracy']:.2f} % ± {100 * mean['accuracy_std']:.2f}",
        f"information density  {_fmt(mean['information_density'], '.1f')}",
    ]
    if mean.get("pose_accuracy"):
        lines.append("pose accuracy %      " + "  ".join(f"{name} {100 * acc:.2f}"
                                                         for name, acc in mean["pose_accuracy"].items()))
        lines.append(f"pose variance (Var)  {_fmt(mean['pose_variance'], '.2f')} mean of runs, "
                     f"{_fmt(mean['pose_variance_of_mean'], '.2f')} of the mean pose accuracies")
    lines += ["", format_confusion(mean["confusion_matrix_percent"], mean["class_names"])]
    return "\n".join(lines)
