"""The one image cache: ``LabeledImages`` as .npz, under ``$LANMSFF_CACHE`` (default ``~/.cache/lanmsff-edge``).

Two kinds of entry share its layout, fingerprint and code: decoded splits (decoding ~30k PNGs from a .tar.gz takes
seconds to minutes; the uint8 result loads in a fraction of a second), and calibration samples
(``calibration/cache.py``, in a ``calibration/`` folder of their own).
The key is the source's resolved path with its size and modification time (plus the label files beside a CSV;
for a directory: the name, size and modification time of every file in it, linked folders followed — so an image
rewritten in place under the same name is noticed), the loader's parameters and ``FORMAT_VERSION`` (bump it when
preprocessing changes). Entries are written atomically; an older entry for the same source and split is removed on
write. An entry that is corrupt, unreadable or of the wrong shape (arrays that disagree in length, labels outside
the classes, another data set or split) is ignored and rebuilt; an unwritable cache folder only means no caching.
"""
import hashlib
import json
import os
import zipfile
import zlib
from pathlib import Path

import numpy as np

from lanmsff_edge.atomic import atomic_path
from lanmsff_edge.data.common import LabeledImages
from lanmsff_edge.errors import WriteError

FORMAT_VERSION = 4  # 2: label.csv votes and names validated, images under 24×24 skipped; 3: FERPlus vote shares;
# 4: the key covers every file (size, time), missing files are named as such
_LABEL_SUFFIXES = (".csv", ".txt", ".json")


def cache_dir():
    return Path(os.environ.get("LANMSFF_CACHE") or Path.home() / ".cache" / "lanmsff-edge")


def fingerprint(path, depth=3):
    """What must change for a cached decode of ``path`` to be stale (None: no source, a generated set)."""
    if path is None:
        return None
    path = Path(path).resolve()
    stat = path.stat()
    parts = [str(path), stat.st_size if path.is_file() else 0, stat.st_mtime_ns]
    if path.is_file():  # a label file may take its pixels from a sibling (fer2013new.csv + fer2013.csv)
        for sibling in sorted(path.parent.iterdir()):
            if sibling != path and sibling.suffix.lower() in _LABEL_SUFFIXES and sibling.is_file():
                info = sibling.stat()
                parts += [str(sibling), info.st_size, info.st_mtime_ns]
    if path.is_dir():
        seen = set()
        for folder, subfolders, names in os.walk(path, followlinks=True):
            real = os.path.realpath(folder)
            if real in seen:
                subfolders[:] = []
                continue
            seen.add(real)
            subfolders.sort()
            for name in sorted(names):
                try:
                    info = os.stat(os.path.join(folder, name))
                except OSError:
                    continue
                parts += [os.path.relpath(os.path.join(folder, name), path), info.st_size, info.st_mtime_ns]
    return parts


def entry_path(dataset, split, path, params, folder=None, tag=""):
    """Where the entry of ``dataset``/``split`` from source ``path`` with ``params`` lives: in ``folder``
    (default ``cache_dir()``), named ``<dataset>-<split><tag>-<source>-<digest>.npz`` (``tag``: what a reader
    of the folder should see, e.g. ``-n500-seed0``)."""
    source = "none" if path is None else str(Path(path).resolve())
    path_key = hashlib.sha256(source.encode()).hexdigest()[:10]
    key = json.dumps([FORMAT_VERSION, dataset, split, fingerprint(path), params], sort_keys=True, default=str)
    digest = hashlib.sha256(key.encode()).hexdigest()[:16]
    return Path(cache_dir() if folder is None else folder) / f"{dataset}-{split}{tag}-{path_key}-{digest}.npz"


def load(entry):
    """The cached LabeledImages at ``entry``, or None when absent, unreadable or not a valid entry."""
    if not entry.exists():
        return None
    try:
        images = _read(entry)
    except (OSError, ValueError, KeyError, TypeError, IndexError, EOFError, zipfile.BadZipFile, zlib.error):
        return None  # damaged: rebuild it
    return images if _valid(images) else None


def _valid(images):
    """An entry's arrays agree with each other and its labels name its classes."""
    count = len(images.images)
    return (images.images.dtype == np.uint8 and images.images.ndim in (3, 4) and count == len(images.labels)
            and count == len(images.names) and (images.poses is None or len(images.poses) == count)
            and (images.votes is None or images.votes.shape == (count, len(images.class_names)))
            and len(images.class_names) >= 2 and images.labels.ndim == 1
            and (count == 0 or 0 <= int(images.labels.min()) and int(images.labels.max()) < len(images.class_names))
            and images.skipped >= 0)


def _read(entry):
    with np.load(entry, allow_pickle=False) as stored:
        has_poses = bool(stored["has_poses"])
        return LabeledImages(
            dataset=str(stored["dataset"]),
            split=str(stored["split"]),
            class_names=tuple(str(name) for name in stored["class_names"]),
            images=stored["images"],
            labels=stored["labels"].astype(np.int64),
            names=[str(name) for name in stored["names"]],
            poses=np.array([pose or None for pose in stored["poses"].tolist()], dtype=object)
            if has_poses else None,
            skipped=int(stored["skipped"]),
            skipped_names=[str(name) for name in stored["skipped_names"]],
            votes=stored["votes"].astype(np.float32) if bool(stored["has_votes"]) else None,
        )


def store(entry, images: LabeledImages):
    """Write ``images`` to ``entry`` atomically and drop older entries of the same source and split. Returns
    whether it was written (a read-only or full cache folder is no error: it only means no caching)."""
    stale_prefix = entry.name.rsplit("-", 1)[0] + "-"
    try:
        with atomic_path(entry) as temporary:
            np.savez(
                temporary,
                dataset=images.dataset,
                split=images.split,
                class_names=np.array(images.class_names, dtype=str),
                images=images.images,
                labels=images.labels,
                names=np.array(images.names, dtype=str),
                has_poses=images.poses is not None,
                poses=np.array([] if images.poses is None else ["" if p is None else str(p) for p in images.poses],
                               dtype=str),
                skipped=images.skipped,
                skipped_names=np.array(images.skipped_names, dtype=str),
                has_votes=images.votes is not None,
                votes=np.zeros((0, 0), np.float32) if images.votes is None else images.votes,
            )
    except WriteError:
        return False  # a read-only or full cache folder must not stop training
    for old in entry.parent.glob(stale_prefix + "*.npz"):
        if old != entry:
            old.unlink(missing_ok=True)
    return True


def cached(dataset, split, path, params, build):
    """``build()``'s result for this source, decoded once and reused from the cache afterwards."""
    entry = entry_path(dataset, split, path, params)
    images = load(entry)
    if images is None:
        images = build()
        if len(images):  # an empty decode is reported as an error: nothing to remember once the files are fixed
            store(entry, images)
    return images
