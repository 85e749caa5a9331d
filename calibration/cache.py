"""The representative sample of a data set split, cached as ``.npz`` so later conversions skip loading the split.

Where: ``$LANMSFF_CACHE/calibration/`` when ``LANMSFF_CACHE`` is set, else the folder the caller names (the
``quantize`` command uses ``calibration_cache/`` beside its output file). The file name carries the data set, split,
size and seed, plus a fingerprint of the data's location, size and modification time: moving or replacing the
data set, or changing any option, makes a new entry instead of reusing a stale one.
"""
import hashlib
import json
import os
import warnings
import zipfile
import zlib
from pathlib import Path

import numpy as np

from lanmsff_edge.calibration.sample import DEFAULT_SIZE, CalibrationWarning, representative_sample
from lanmsff_edge.atomic import atomic_path
from lanmsff_edge.data.common import LabeledImages
from lanmsff_edge.errors import WriteError

CACHE_VERSION = 1


def cache_dir(fallback=None):
    """``$LANMSFF_CACHE/calibration`` when the variable is set, else ``fallback`` (None: no caching)."""
    root = os.environ.get("LANMSFF_CACHE")
    if root:
        return Path(root).expanduser() / "calibration"
    return None if fallback is None else Path(fallback)


def _data_identity(data):
    if data is None:
        return None
    path = Path(data).resolve()
    try:
        stat = path.stat()
    except OSError:
        return str(path)
    return [str(path), stat.st_size, stat.st_mtime_ns]


def cache_path(directory, dataset, data, split, size, seed, fold=None, limit=None):
    identity = json.dumps([CACHE_VERSION, dataset, _data_identity(data), split, fold, limit, int(size), int(seed)])
    digest = hashlib.sha1(identity.encode()).hexdigest()[:12]
    fold_tag = "" if fold is None else f"-fold{fold}"
    return Path(directory) / f"{dataset}-{split}{fold_tag}-n{int(size)}-seed{int(seed)}-{digest}.npz"


def save_sample(path, sample: LabeledImages, requested):
    poses = sample.poses
    meta = {"dataset": sample.dataset, "split": sample.split, "class_names": list(sample.class_names),
            "requested": int(requested), "has_poses": poses is not None, "version": CACHE_VERSION}
    with atomic_path(path) as temporary:
        np.savez_compressed(temporary, images=sample.images, labels=sample.labels,
                            names=np.asarray(sample.names, dtype=str),
                            poses=np.asarray(["" if p is None else str(p) for p in poses] if poses is not None
                                             else [], dtype=str),
                            meta=np.asarray(json.dumps(meta)))


def read_sample(path):
    """The cached ``LabeledImages``, or None when the file is missing or unreadable (it is then rebuilt)."""
    try:
        with np.load(path, allow_pickle=False) as stored:
            meta = json.loads(str(stored["meta"]))
            if meta.get("version") != CACHE_VERSION:
                return None
            poses = None
            if meta["has_poses"]:
                poses = np.asarray([p or None for p in stored["poses"].tolist()], dtype=object)
            sample = LabeledImages(dataset=meta["dataset"], split=meta["split"],
                                   class_names=tuple(meta["class_names"]), images=stored["images"],
                                   labels=stored["labels"].astype(np.int64), names=stored["names"].tolist(),
                                   poses=poses)
    except (OSError, ValueError, KeyError, EOFError, zipfile.BadZipFile, zlib.error):  # damaged: rebuilt
        return None
    if len(sample) < meta["requested"]:
        warnings.warn(f"{sample.dataset} {sample.split} has {len(sample)} images, fewer than the "
                      f"{meta['requested']} asked for calibration: using all {len(sample)}", CalibrationWarning,
                      stacklevel=3)
    return sample


def load_sample(dataset, data=None, split="train", size=DEFAULT_SIZE, seed=0, fold=None, limit=None, directory=None,
                images=None):
    """The representative sample of ``dataset``/``split``, from the cache when there is one.

    ``fold``, ``limit``: as ``load_dataset``'s. ``images``: the split, loaded with those options, when the caller
    has it already (saves loading it again on a cache miss).
    ``directory``: cache folder (None and no ``$LANMSFF_CACHE``: no cache). Returns ``(sample, path or None)``.
    """
    directory = cache_dir(directory)
    path = None if directory is None else cache_path(directory, dataset, data, split, size, seed, fold, limit)
    if path is not None and path.exists():
        sample = read_sample(path)
        if sample is not None:
            return sample, path
    if images is None:
        from lanmsff_edge.data import load_dataset

        images = load_dataset(dataset, data, split, fold=fold, limit=limit)
    sample = representative_sample(images, size, seed)
    if path is not None:
        try:
            save_sample(path, sample, size)
        except WriteError:  # a read-only or full cache folder only means no caching
            path = None
    return sample, path
