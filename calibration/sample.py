"""The representative sample: a class-balanced (and pose-balanced) deterministic subset of a split.

Quotas are water-filled: every class gets an equal share of ``size``; a class with fewer images than its share
gives all it has and the rest goes to the others. Inside a class the same rule spreads the share over the
poses when poses are known (KDEF angles, synthetic yaws), so a frontal-heavy split still calibrates the
converter on profiles. Images inside each (class, pose) cell are drawn by a seeded permutation: the same
``(images, size, seed)`` always gives the same sample, in the same order.
"""
import warnings

import numpy as np

DEFAULT_SIZE = 500


class CalibrationWarning(UserWarning):
    """The split holds fewer images than the sample size asked for (the whole split is used)."""


def water_fill(capacities, total):
    """Split ``total`` as evenly as possible over cells holding at most ``capacities[i]`` each.

    Returns integer quotas (sum = min(total, sum(capacities))); leftovers of an uneven split go to the
    first cells with room, so the result is deterministic.
    """
    capacities = np.asarray(capacities, dtype=np.int64)
    quotas = np.zeros_like(capacities)
    remaining = min(int(total), int(capacities.sum()))
    while remaining > 0:
        open_cells = np.flatnonzero(quotas < capacities)
        share = remaining // len(open_cells)
        if share == 0:
            for cell in open_cells[:remaining]:
                quotas[cell] += 1
            break
        grant = np.minimum(capacities[open_cells] - quotas[open_cells], share)
        quotas[open_cells] += grant
        remaining -= int(grant.sum())
    return quotas


def _cells(keys):
    """Index arrays of equal ``keys`` values, in sorted key order (None sorts first, as a string)."""
    keys = np.asarray(["" if k is None else str(k) for k in keys], dtype=object)
    return [np.flatnonzero(keys == key) for key in sorted(set(keys.tolist()))]


def sample_indices(labels, size=DEFAULT_SIZE, seed=0, poses=None, num_classes=None):
    """Indices of a class- (and pose-) balanced sample of ``size`` items, sorted by class then draw order."""
    labels = np.asarray(labels, dtype=np.int64)
    rng = np.random.default_rng(seed)
    num_classes = int(num_classes or (labels.max() + 1 if len(labels) else 0))
    by_class = [np.flatnonzero(labels == c) for c in range(num_classes)]
    class_quota = water_fill([len(members) for members in by_class], size)
    chosen = []
    for members, quota in zip(by_class, class_quota):
        if quota == 0:
            continue
        cells = [members] if poses is None else [members[cell] for cell in _cells(np.asarray(poses)[members])]
        cell_quota = water_fill([len(cell) for cell in cells], quota)
        picks = [cell[rng.permutation(len(cell))[:count]] for cell, count in zip(cells, cell_quota)]
        # interleave the poses so any prefix of the class is pose-balanced too
        chosen.extend(_interleave(picks))
    return np.asarray(chosen, dtype=np.int64)


def _interleave(groups):
    merged = []
    for position in range(max((len(g) for g in groups), default=0)):
        merged.extend(int(g[position]) for g in groups if position < len(g))
    return merged


def representative_sample(images, size=DEFAULT_SIZE, seed=0):
    """A ``LabeledImages`` subset of ``images`` for calibration (see the module docstring).

    Fewer images than ``size`` → the whole split, with a ``CalibrationWarning``.
    """
    size = int(size)
    if size < 1:
        raise ValueError(f"calibration size must be at least 1, got {size}")
    if len(images) < size:
        warnings.warn(f"{images.dataset} {images.split} has {len(images)} images, fewer than the {size} "
                      f"asked for calibration: using all {len(images)}", CalibrationWarning, stacklevel=2)
    poses = images.poses
    if poses is not None and all(p is None for p in poses):
        poses = None
    index = sample_indices(images.labels, size, seed, poses, images.num_classes)
    return images.subset(index)
