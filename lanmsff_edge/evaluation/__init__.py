"""Evaluate a model on one split with the paper's metrics (IV.B), or several models and their mean (k-fold CV).

``metrics_from_predictions`` (``metrics.py``) is the pure core; every tool that measures accuracy (evaluate,
quantize reports, bench) goes through it, whatever ran the model. ``evaluate`` wraps it for any ``--model``
reference (``artifacts``) and anything ``runtimes.open_runtime`` opens: Keras models, ``.keras``/``.tflite`` files,
or a ``runtimes.Runtime`` (LiteRT kernels, TFLite Micro, a delegate).
"""
import json
from pathlib import Path

import numpy as np

from lanmsff_edge.artifacts.reference import resolve_model_path, run_config, run_data_defaults
from lanmsff_edge.atomic import artifact_group
from lanmsff_edge.errors import UserError
from lanmsff_edge.evaluation.metrics import (
    OVERALL,
    confusion_counts,
    information_density,
    mean_metrics,
    metrics_from_predictions,
    paired_comparison,
    row_percent,
    wilson_interval,
)
from lanmsff_edge.evaluation.report import confusion_title, format_confusion, format_mean, format_report
from lanmsff_edge.runtimes import open_runtime, predict_faces

__all__ = ["OVERALL", "confusion_counts", "confusion_title", "evaluate", "evaluate_many", "format_confusion",
           "format_mean", "format_report", "information_density", "mean_metrics", "metrics_from_predictions",
           "paired_comparison", "row_percent", "unseen_accuracy", "wilson_interval"]


def _pose_tags(images):
    """Per-image poses (KDEF angles, or pose-list names) of a loaded split, or None when none are known."""
    poses = getattr(images, "poses", None)
    if poses is None:
        return None
    poses = np.asarray(poses, dtype=object)
    return poses if any(p is not None for p in poses.tolist()) else None


def evaluate(model_or_path, dataset=None, data=None, split="val", pose_lists=(), fold=None, json_path=None,
             confusion_path=None, batch_size=64, limit=None, pose_images=None, unseen_vs=None, probabilities=None,
             baseline=None, tta=None):
    """Evaluate a model on one split with the paper's metrics; returns the metrics dict.

    model_or_path: Keras model, ``runtimes.Runtime``, ``.keras``/``.tflite`` file, preset or training run folder.
    dataset: a data set name (loaded with ``load_dataset``) or an already loaded ``LabeledImages``; with a run
    folder it defaults to the run's data set (and ``data``/``fold`` to the run's). KDEF needs a fold: ``fold``
    or the run's. ``pose_lists`` (RAN's files) — or ``pose_images``, their loaded images — give the accuracy on
    each pose subset next to the whole split's ("overall") and their variance (they replace per-image poses).
    ``unseen_vs`` (a split name, e.g. "train", or that split already loaded) adds ``unseen``: the accuracy on the
    images that are not pixel copies of that split's (FER-2013 repeats faces across its splits).
    ``probabilities``: the model's outputs on the split when the caller already has them (no second inference).
    ``baseline`` (any model reference) adds ``vs_baseline``: that model's accuracy on the same images and the
    paired comparison (images lost / gained, top-1 agreement, exact McNemar p) — is the difference real?
    ``tta`` ("flip" or "crops", ``tta.py``) adds ``tta``: the accuracy of the probabilities averaged over that many
    views, compared with the single crop, which stays the headline ``accuracy`` (what a microcontroller runs).
    Writes ``json_path`` and a confusion-matrix PNG ``confusion_path`` when given (``report.format_report``
    turns the metrics into the text the CLI prints).
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
    runtime = _open_for(images, model_or_path, batch_size, "model", model_name)
    probs = predict_faces(runtime, images.images) if probabilities is None else np.asarray(probabilities)
    if len(probs) != len(images):
        raise ValueError(f"{len(probs)} probability rows for {len(images)} images")
    subsets = None
    if pose_images is not None and len(pose_images):
        pose_probs = predict_faces(runtime, pose_images.images)
        tags = np.asarray(pose_images.poses, dtype=object)
        subsets = {str(tag): (pose_images.labels[tags == tag], pose_probs[tags == tag])
                   for tag in dict.fromkeys(tags.tolist())}
    metrics = {
        "model": model_name or runtime.source,
        "dataset": images.dataset,
        "split": images.split,
        "fold": fold,
        "skipped": int(images.skipped),
        **metrics_from_predictions(images.labels, probs, images.class_names,
                                   poses=None if subsets else _pose_tags(images),
                                   params=_params(runtime, model_or_path), subsets=subsets),
    }
    if isinstance(unseen_vs, str):
        if not isinstance(dataset, str):
            raise UserError("the accuracy on unseen images needs a data set name to load the other split from")
        unseen_vs = _load_split(dataset, data, unseen_vs, fold, (), None)
    if unseen_vs is not None:
        metrics["unseen"] = unseen_accuracy(images, probs, unseen_vs)
    if baseline is not None:
        metrics["vs_baseline"] = _against_baseline(baseline, images, probs, batch_size)
    if tta is not None:
        from lanmsff_edge.evaluation.tta import tta_metrics

        metrics["tta"] = tta_metrics(runtime, images, tta, probs)
    with artifact_group():  # the metrics and their figure: both of this run, or both as they were
        if json_path:
            from lanmsff_edge.atomic import write_text

            write_text(json_path, json.dumps(metrics, indent=2) + "\n")
        if confusion_path:
            from lanmsff_edge.plots import save_confusion_png

            save_confusion_png(metrics["confusion_matrix_percent"], metrics["class_names"], confusion_path,
                               title=confusion_title(metrics), counts=list(metrics["support"].values()))
    return metrics


def _open_for(images, model, batch_size, role, name=None):
    """The runtime of ``model``, refused when its class count is not the data set's."""
    runtime = open_runtime(model, batch_size)
    if runtime.num_classes != images.num_classes:
        raise UserError(f"{role} {name or runtime.source} has {runtime.num_classes} classes but data set "
                        f"{images.dataset} has {images.num_classes} ({', '.join(images.class_names)})")
    return runtime


def _params(runtime, model):
    """The parameter count for the information density: the runtime's (Keras), else a TFLite file's graph's
    (weights and biases of the layers with kernels, batch norm folded in)."""
    if runtime.params is not None or not isinstance(model, (str, Path)) or Path(model).suffix.lower() != ".tflite":
        return runtime.params
    from lanmsff_edge.tflite_graph import read_tflite, tflite_params

    return tflite_params(read_tflite(Path(model)))


def _against_baseline(baseline, images, probs, batch_size):
    name = str(baseline)
    if isinstance(baseline, (str, Path)):
        baseline = resolve_model_path(baseline)
    reference = predict_faces(_open_for(images, baseline, batch_size, "baseline", name), images.images).argmax(axis=1)
    return {"model": name, "accuracy": float(np.mean(reference == images.labels)),
            **paired_comparison(images.labels, np.asarray(probs).argmax(axis=1), reference)}


def unseen_accuracy(images, probs, reference):
    """Accuracy on the ``images`` that are not pixel copies of ``reference``'s (a loaded split), with the counts."""
    from lanmsff_edge.data.audit import copied_from

    unseen = ~copied_from(images.images, reference.images)
    hits = np.asarray(probs).argmax(axis=1) == images.labels
    return {"copies_of": reference.split, "copies": int((~unseen).sum()), "size": int(unseen.sum()),
            "accuracy": float(hits[unseen].mean()) if unseen.any() else None}


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
    runs = []
    for model in models:
        runs.append(evaluate(model, dataset, **options))
    summary = {"runs": runs, "mean": mean_metrics(runs)}
    with artifact_group():
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
