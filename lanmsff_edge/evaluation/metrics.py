"""The paper's metrics (IV.B) from predictions: accuracy, per-class accuracy, the row-normalised confusion matrix
in % (rows = actual, as the paper's Tables III/V/VIII), information density ID = accuracy(%) / params(millions),
per-pose accuracy and the pose variance Var; and their mean over several models (k-fold CV).

Uncertainty: ``wilson_interval`` gives the 95 % interval of an accuracy (on 3,191 images about ±1.2 points), and
``paired_comparison`` tells whether two models on the same images really differ (exact McNemar test on the images
only one of them gets right) — how a 0.3-point int8 drop should be read.

Var is the population variance (ddof=0) of the per-pose accuracies in percent: with it the paper's Table XI
is reproduced exactly (LANMSFF 86.92/84.68/86.96 → 1.13, RAN 14.23, CERN 1.88, VTFF 0.45). With pose lists
(Pose-FERPlus >30°, >45°), the whole split is a third group, "overall", as in Table XI.
"""
import math

import numpy as np

from lanmsff_edge.errors import UserError

OVERALL = "overall"
Z_95 = 1.959963984540054  # two-sided 95 % normal quantile


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


def wilson_interval(correct, total, z=Z_95):
    """95 % Wilson score interval ``(low, high)`` of the proportion correct / total; None for total 0.

    Unlike p ± 1.96·SE it stays inside [0, 1] and is honest for small sets and accuracies near 0 or 1.
    """
    if total <= 0:
        return None
    p, n = correct / total, float(total)
    denominator = 1.0 + z * z / n
    centre = (p + z * z / (2 * n)) / denominator
    half = z * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / denominator
    return max(0.0, centre - half), min(1.0, centre + half)


def mcnemar_p(lost, gained):
    """Two-sided exact McNemar p-value: how likely a split at least this uneven is when both models are equally
    accurate (each discordant image is then a fair coin)."""
    n = lost + gained
    if n == 0:
        return 1.0
    tail = sum(math.comb(n, k) for k in range(min(lost, gained) + 1))
    return min(1.0, 2 * tail / 2 ** n)  # int / int: exact for any n (a float numerator overflows past n ≈ 1,023)


def paired_comparison(labels, predictions, reference_predictions):
    """A model against a reference on the same images: ``lost`` (reference right, model wrong), ``gained`` (the
    reverse), top-1 ``agreement`` and the exact McNemar ``p_value`` of the difference."""
    labels = np.asarray(labels, dtype=np.int64)
    predictions = np.asarray(predictions, dtype=np.int64)
    reference_predictions = np.asarray(reference_predictions, dtype=np.int64)
    if not len(labels) == len(predictions) == len(reference_predictions):
        raise ValueError("labels and both prediction sets must have the same length")
    right, reference_right = predictions == labels, reference_predictions == labels
    lost, gained = int(np.sum(reference_right & ~right)), int(np.sum(right & ~reference_right))
    return {"images": int(len(labels)), "lost": lost, "gained": gained,
            "agreement": float(np.mean(predictions == reference_predictions)) if len(labels) else None,
            "p_value": mcnemar_p(lost, gained)}


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
        "accuracy_ci95": list(wilson_interval(int(correct.sum()), len(labels))),
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
