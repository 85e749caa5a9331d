"""The representative sample of a data set split, kept in the image cache (``data/cache.py``: its layout, its
fingerprint of the data) so later conversions skip loading the split.

Where: ``$LANMSFF_CACHE/calibration/`` when ``LANMSFF_CACHE`` is set, else the folder the caller names (the
``quantize`` command uses ``calibration_cache/`` beside its output file). The file name carries the data set, split,
size and seed; the key also holds the data's fingerprint and every option: moving or replacing the data set, or
changing an option, makes a new entry instead of reusing a stale one.
"""
import os
import warnings
from pathlib import Path

from lanmsff_edge.calibration.sample import DEFAULT_SIZE, CalibrationWarning, representative_sample
from lanmsff_edge.data import cache

KIND = "calibration-sample"  # in the key: a sample never reads as a decoded split of the same source


def cache_dir(fallback=None):
    """``$LANMSFF_CACHE/calibration`` when the variable is set, else ``fallback`` (None: no caching)."""
    root = os.environ.get("LANMSFF_CACHE")
    if root:
        return Path(root).expanduser() / "calibration"
    return None if fallback is None else Path(fallback)


def cache_path(directory, dataset, data, split, size, seed, fold=None, limit=None):
    """The entry of this sample in ``directory``, or None when the data's fingerprint cannot be taken (gone)."""
    tag = ("" if fold is None else f"-fold{fold}") + f"-n{int(size)}-seed{int(seed)}" + (
        "" if limit is None else f"-limit{int(limit)}")  # all but the data's fingerprint: an older entry of the
    params = {"kind": KIND, "fold": fold, "limit": limit, "size": int(size), "seed": int(seed)}  # same is removed
    try:
        return cache.entry_path(dataset, split, data, params, folder=directory, tag=tag)
    except OSError:
        return None


def load_sample(dataset, data=None, split="train", size=DEFAULT_SIZE, seed=0, fold=None, limit=None, directory=None,
                images=None):
    """The representative sample of ``dataset``/``split``, from the cache when there is one.

    ``fold``, ``limit``: as ``load_dataset``'s. ``images``: the split, loaded with those options, when the caller
    has it already (saves loading it again on a cache miss).
    ``directory``: cache folder (None and no ``$LANMSFF_CACHE``: no cache). Returns ``(sample, path or None)``.
    """
    directory = cache_dir(directory)
    path = None if directory is None else cache_path(directory, dataset, data, split, size, seed, fold, limit)
    sample = None if path is None else cache.load(path)
    if sample is not None:
        if len(sample) < int(size):
            warnings.warn(f"{sample.dataset} {sample.split} has {len(sample)} images, fewer than the {int(size)} "
                          f"asked for calibration: using all {len(sample)}", CalibrationWarning, stacklevel=2)
        return sample, path
    if images is None:
        from lanmsff_edge.data import load_dataset

        images = load_dataset(dataset, data, split, fold=fold, limit=limit)
    sample = representative_sample(images, size, seed)
    if path is not None and not cache.store(path, sample):
        path = None  # a read-only or full cache folder only means no caching
    return sample, path
