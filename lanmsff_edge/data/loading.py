"""``load_dataset``: one entry point for every data set, split, fold and pose subset."""
from pathlib import Path

from lanmsff_edge.data.classes import DATASETS, SPLITS
from lanmsff_edge.data.common import LabeledImages
from lanmsff_edge.errors import UserError


def load_dataset(name, data=None, split="train", *, fold=None, pose_lists=(), limit=None, seed=0,
                 size=None) -> LabeledImages:
    """One split of a data set as uint8 64×64 grayscale faces with labels.

    name: one of ``DATASETS``; split: "train", "val" or "test".
    data: the data set as distributed — a directory in its original layout, the .tar.gz / .tar / .zip archive
        (read directly), or for FER-2013 the Kaggle ``fer2013.csv``; not used by "synthetic".
    fold: KDEF cross-validation fold 1..5 (val and test = the fold's subjects, train = the other subjects).
    pose_lists: RAN pose-list files; only listed images are kept, ``poses`` = the list's file stem.
        An image on several lists appears once per list (the >45° list is a subset of the >30° one).
    limit: keep the first N images (quick runs); seed, size: synthetic generator seed and image count.
    """
    if name not in DATASETS:
        raise UserError(f"unknown data set {name!r}: choose one of {', '.join(DATASETS)}")
    if split not in SPLITS:
        raise UserError(f"unknown split {split!r}: choose one of {', '.join(SPLITS)}")
    if limit is not None and int(limit) < 1:
        raise UserError(f"--limit must be at least 1, got {limit}")
    if fold is not None and name != "kdef":
        raise UserError(f"--fold applies to kdef's cross-validation, not to {name}")
    if name == "synthetic":
        from lanmsff_edge.data import synthetic

        if size is not None and int(size) < 1:
            raise UserError(f"synthetic size must be at least 1, got {size}")
        if pose_lists:
            raise UserError("pose lists select FERPlus / FER-2013 images; the synthetic set has its own poses")
        images = synthetic.generate(split, size, seed)
    else:
        if data is None:
            raise UserError(f"--dataset {name} needs --data: the data set's folder or archive as distributed "
                            f"(or use --dataset synthetic, which needs no download)")
        if not Path(data).exists():
            raise UserError(f"--data {data}: no such file or directory")
        images = _load_real(name, Path(data), split, fold, limit if not pose_lists else None)
    if pose_lists:
        from lanmsff_edge.data import poselists

        images = poselists.select(images, pose_lists, data)
    if limit is not None:
        images = images.subset(range(min(int(limit), len(images))))
    return require_images(images, data or name)


def require_images(images, where):
    """``images`` when it holds at least one; an empty split (nothing listed, or nothing decodable) is a
    ``UserError``: zeros in a report or a training on nothing would look like results."""
    if len(images):
        return images
    if images.skipped:
        text = images.skipped_text().split(" image(s) ", 1)[1]
        raise UserError(f"{where}: no usable {images.split} images: all {images.skipped:,} {text}")
    raise UserError(f"{where}: the {images.split} split holds no images")


def _load_real(name, data, split, fold, limit):
    """Decode (or reuse the cached decode of) a real data set; ``limit`` decodes only the first N, uncached."""
    from lanmsff_edge.data import cache, fer2013, ferplus, kdef

    if name == "kdef":
        kdef.check_fold(fold)
        everything = require_images(cache.cached("kdef", "all", data, {}, lambda: kdef.load_all(data)), data)
        return kdef.select_fold(everything, int(fold), split)
    loader = {"ferplus": ferplus.load, "fer2013": fer2013.load}[name]
    entry = cache.entry_path(name, split, data, {})
    images = cache.load(entry)
    if images is None and limit is not None:
        return loader(data, split, limit=int(limit))
    if images is None:
        images = loader(data, split)
        if len(images):  # an empty decode is an error, and not one to remember once the files are fixed
            cache.store(entry, images)
    return images
