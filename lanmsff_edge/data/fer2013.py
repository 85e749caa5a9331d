"""FER-2013 in both of its releases.

- Kaggle's ``fer2013.csv``: ``emotion,pixels,Usage``; pixels are 2304 (48×48) space-separated gray values;
  Usage Training / PublicTest / PrivateTest = our train / val / test. Image names are "fer2013.csv row N"
  (N = 0-based data row, the number FERPlus and the pose lists use).
- The image-folder release: ``train/<class>/Training_*.jpg`` and ``test/<class>/PublicTest_*.jpg`` /
  ``PrivateTest_*.jpg`` (val = the PublicTest files in test/, test = the PrivateTest files).
"""
import re
from pathlib import Path

import numpy as np

from lanmsff_edge.data.classes import FER2013_CLASSES
from lanmsff_edge.data.common import IMAGE_SIZE, LabeledImages
from lanmsff_edge.data.decode import decode_files, prepare_face
from lanmsff_edge.data.sources import DirectorySource, csv_rows, is_image_name, open_source
from lanmsff_edge.errors import UserError

USAGE = {"train": "Training", "val": "PublicTest", "test": "PrivateTest"}
PIXELS = 48 * 48
CSV_NAME = "fer2013.csv"
ROW_NAME = re.compile(r" row (\d+)$")
_FOLDER_PREFIX = {"val": "PublicTest_", "test": "PrivateTest_"}


def row_name(csv_name, row):
    return f"{csv_name} row {row}"


def load(path, split, limit=None):
    """FER-2013 ``split`` from fer2013.csv, or from a directory / archive holding it or the image folders."""
    path = Path(path)
    if path.is_file() and path.suffix.lower() == ".csv":
        return _load_csv(DirectorySource(path.parent), path.name, split, limit)
    source = open_source(path)
    files = source.files()
    csv_files = sorted((f for f in files if f.rsplit("/", 1)[-1].lower() == CSV_NAME), key=lambda f: f.count("/"))
    if csv_files:
        return _load_csv(source, csv_files[0], split, limit)
    return _load_folders(source, files, split, limit)


def iter_csv(source, name, wanted=lambda row_number, usage: True):
    """``(row number, Usage, emotion, uint8 48×48 pixels)`` of each data row of a fer2013.csv that ``wanted(row
    number, Usage)`` selects, every selected row validated (one-line UserError naming the file and line); the
    header and every row's Usage are checked for all rows."""
    where = source.describe(name)
    reader = csv_rows(source, name)
    header = [column.strip() for column in next(reader, [])]
    missing = {"emotion", "pixels", "Usage"} - set(header)
    if missing:
        raise UserError(f"{where} line 1: missing column(s) {', '.join(sorted(missing))} "
                        f"(expected the Kaggle header emotion,pixels,Usage)")
    emotion_at, pixels_at, usage_at = header.index("emotion"), header.index("pixels"), header.index("Usage")
    for row_number, row in enumerate(reader):
        line = row_number + 2
        if not row:
            continue
        if len(row) != len(header):
            raise UserError(f"{where} line {line}: {len(row)} columns, expected {len(header)} ({','.join(header)})")
        row_usage = row[usage_at].strip()
        if row_usage not in USAGE.values():
            raise UserError(f"{where} line {line}: Usage {row_usage!r} is not Training, PublicTest or PrivateTest")
        if not wanted(row_number, row_usage):
            continue
        try:
            values = np.array(row[pixels_at].split(), dtype=np.int32)
        except ValueError:
            raise UserError(f"{where} line {line}: pixels must be integers 0-255") from None
        if values.size != PIXELS:
            raise UserError(f"{where} line {line}: {values.size} pixel values, expected {PIXELS} (48×48)")
        if values.min() < 0 or values.max() > 255:
            raise UserError(f"{where} line {line}: pixel values must lie in 0-255")
        emotion = row[emotion_at].strip()
        if emotion not in {str(i) for i in range(len(FER2013_CLASSES))}:
            raise UserError(f"{where} line {line}: emotion {emotion!r} is not a label 0-6 "
                            f"({', '.join(FER2013_CLASSES)})")
        yield row_number, row_usage, int(emotion), values.astype(np.uint8).reshape(48, 48)


def read_csv_rows(source, name, rows=None, usage=None, limit=None):
    """Decode rows of a fer2013.csv → ({row number: index}, uint8 (N, 64, 64) images, int64 labels).

    Selects the rows in ``rows`` (a set of 0-based data row numbers) or those whose Usage is ``usage``;
    validates the header and every selected row (``iter_csv``).
    """
    index, images, labels = {}, [], []
    wanted = lambda row, row_usage: (rows is None or row in rows) and (usage is None or row_usage == usage)  # noqa: E731
    for row_number, _, emotion, pixels in iter_csv(source, name, wanted):
        index[row_number] = len(images)
        images.append(prepare_face(pixels))
        labels.append(emotion)
        if limit is not None and len(images) >= limit:
            break
    stacked = np.stack(images) if images else np.zeros((0, IMAGE_SIZE, IMAGE_SIZE), np.uint8)
    return index, stacked, np.array(labels, np.int64)


def _load_csv(source, name, split, limit):
    index, images, labels = read_csv_rows(source, name, usage=USAGE[split], limit=limit)
    if not index:
        raise UserError(f"{source.describe(name)} has no {USAGE[split]} rows: the {split} split is not in this copy")
    csv_name = name.rsplit("/", 1)[-1]
    return LabeledImages(dataset="fer2013", split=split, class_names=FER2013_CLASSES, images=images,
                         labels=labels, names=[row_name(csv_name, row) for row in index])


def _load_folders(source, files, split, limit):
    """The image-folder release: <root>/train/<class>/*, <root>/test/<class>/*."""
    prefixes = []
    for name in files:
        parts = name.split("/")
        if len(parts) >= 3 and parts[-3] in ("train", "test") and is_image_name(name):
            prefixes.append("/".join(parts[:-3]))
    root = min(prefixes, key=lambda prefix: (prefix.count("/") if prefix else -1, prefix)) if prefixes else None
    if root is None:
        raise UserError(f"{source.describe()} holds no FER-2013 data: expected fer2013.csv or the image folders "
                        f"train/<class>/Training_*.jpg and test/<class>/PublicTest_*.jpg")
    top = "train" if split == "train" else "test"
    base = f"{root}/{top}/" if root else f"{top}/"
    entries = []
    for name in files:
        if not name.startswith(base):
            continue
        parts = name[len(base):].split("/")
        if len(parts) != 2 or not is_image_name(name):
            continue
        folder, filename = parts
        if folder.lower() not in FER2013_CLASSES:
            raise UserError(f"{source.describe(base + folder)}: unknown class folder {folder!r} "
                            f"(expected {', '.join(sorted(FER2013_CLASSES))})")
        if split != "train" and not filename.startswith(_FOLDER_PREFIX[split]):
            continue
        entries.append((filename, name, FER2013_CLASSES.index(folder.lower())))
    if not entries:
        what = f"{top}/<class>/" + ("" if split == "train" else f"{_FOLDER_PREFIX[split]}*")
        raise UserError(f"{source.describe()} has no {what} images: the {split} split is not in this copy")
    entries.sort()  # by file name: classes interleave, so --limit takes a mix
    if limit is not None:
        entries = entries[:limit]
    names = [name for _, name, _ in entries]
    images, ok = decode_files(source, names)
    return LabeledImages(
        dataset="fer2013",
        split=split,
        class_names=FER2013_CLASSES,
        images=images,
        labels=np.array([label for _, _, label in entries], np.int64),
        names=names,
    ).without_undecoded(ok)

