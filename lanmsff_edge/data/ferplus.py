"""FERPlus: Microsoft's relabelling of FER-2013 by 10 annotators per image, 8 emotions.

Two layouts:
- the output of Microsoft's ``generate_training_data.py``: ``FER2013Train|FER2013Valid|FER2013Test/`` each with
  ``label.csv`` (``fer0000000.png,"(x, y, w, h)",<10 vote counts>`` as the repository ships it, or without the
  box as the generator's current version writes it; no header) and the 48×48 PNGs;
- the label file ``fer2013new.csv`` (``Usage,Image name,<10 vote columns>``) beside the original ``fer2013.csv``,
  whose row i holds the pixels of ``fer2013new.csv`` row i.
Labels follow FERPlus's "majority" mode: votes of 1 are dropped as outliers, then an image is kept only when its
top emotion has more than half of the remaining votes and is one of the 8 emotions (not unknown, not NF).
The same images also carry their vote distribution (``LabeledImages.votes``) for ``train --targets votes``
(Barsoum et al. 2016, "probability" mode).
"""
from pathlib import Path

import numpy as np

from lanmsff_edge.data import fer2013
from lanmsff_edge.data.classes import FERPLUS_CLASSES
from lanmsff_edge.data.common import IMAGE_SIZE, LabeledImages
from lanmsff_edge.data.decode import decode_files
from lanmsff_edge.data.sources import csv_rows, find_root, open_source
from lanmsff_edge.errors import UserError

FOLDERS = {"train": "FER2013Train", "val": "FER2013Valid", "test": "FER2013Test"}
VOTE_COLUMNS = FERPLUS_CLASSES + ("unknown", "NF")
LABEL_COLUMNS = 2 + len(VOTE_COLUMNS)  # image name, face box, votes (the label.csv files of Microsoft's repository)
SHORT_LABEL_COLUMNS = 1 + len(VOTE_COLUMNS)  # image name, votes: what its generate_training_data.py writes today
MAX_VOTES = 1000  # a vote count is a number of annotators: FERPlus has 10 per image


def majority_label(votes):
    """FERPlus majority rule on the 10 vote counts → class index 0..7, or None when the image is dropped."""
    counts = np.asarray(votes, dtype=float)
    counts = np.where(counts <= 1, 0.0, counts)  # a single vote is an outlier
    total = counts.sum()
    top = int(np.argmax(counts))
    if total <= 0 or counts[top] <= 0.5 * total or top >= len(FERPLUS_CLASSES):
        return None
    return top


def vote_distribution(votes):
    """The 8 emotions' share of the votes that count (single votes dropped, as ``majority_label`` drops them), as
    float32 summing to 1. Only for images with a majority label, whose emotions hold more than half the votes."""
    counts = np.asarray(votes, dtype=np.float64)
    emotions = np.where(counts <= 1, 0.0, counts)[:len(FERPLUS_CLASSES)]
    return (emotions / emotions.sum()).astype(np.float32)


def _votes_array(rows):
    return (np.stack([vote_distribution(votes) for votes in rows]) if rows
            else np.zeros((0, len(FERPLUS_CLASSES)), np.float32))


def load(path, split, limit=None):
    """FERPlus ``split`` from a directory or archive (either layout) or from the path of ``fer2013new.csv``."""
    path = Path(path)
    if path.is_file() and path.name.lower() == "label.csv":
        raise UserError(f"{path} is the label file of one FERPlus folder: give the folder that holds "
                        f"{FOLDERS['train']}/, {FOLDERS['val']}/ … (or its archive) instead")
    if path.is_file() and path.suffix.lower() == ".csv":
        return _load_from_csv_pair(open_source(path.parent), path.name, split, limit, where=path.parent)
    source = open_source(path)
    files = source.files()
    roots = {s: find_root(files, f"{folder}/label.csv") for s, folder in FOLDERS.items()}
    if roots[split] is not None:
        return _load_microsoft_layout(source, roots[split] + FOLDERS[split], split, limit)
    new_csv = _find_file(files, "fer2013new.csv")
    if new_csv is not None:
        return _load_from_csv_pair(source, new_csv, split, limit, where=path)
    present = [s for s, root in roots.items() if root is not None]
    if present:
        raise UserError(f"{path} has no {FOLDERS[split]}/label.csv: the {split} split is not in this copy of "
                        f"FERPlus (it has {', '.join(present)})")
    raise UserError(f"{path} holds no FERPlus data: expected {FOLDERS['train']}/label.csv (Microsoft's FERPlus "
                    f"layout) or fer2013new.csv beside fer2013.csv")


def parse_votes(cells, where, line):
    """The vote counts of one row as ints; anything but a whole number 0..``MAX_VOTES`` (``-5``, ``0.7``, ``1e30``)
    is a ``UserError`` naming the row: a wrong count would silently move the image to another class."""
    text = [cell.strip() for cell in cells]
    if not all(cell.isdigit() and cell.isascii() and int(cell) <= MAX_VOTES for cell in text):
        raise UserError(f"{where} line {line}: vote counts must be whole numbers from 0 to {MAX_VOTES} "
                        f"(annotators per image), got {','.join(text)}")
    return [int(cell) for cell in text]


def read_label_csv(source, name):
    """Rows of a FERPlus ``label.csv`` as (image name, 10 vote counts), with one-line errors naming the row.

    An image name must be a plain file name: one with a folder in it (``../../x.png``) would read a file from
    outside the split's folder."""
    rows = []
    where = source.describe(name)
    folder = name.rsplit("/", 2)[-2] if "/" in name else "the split's folder"
    for line, row in enumerate(csv_rows(source, name), start=1):
        if not row or not "".join(row).strip():
            continue
        if len(row) not in (LABEL_COLUMNS, SHORT_LABEL_COLUMNS):
            raise UserError(f"{where} line {line}: {len(row)} columns, expected {LABEL_COLUMNS} (image name, face "
                            f"box, {len(VOTE_COLUMNS)} vote counts) or {SHORT_LABEL_COLUMNS} (without the box)")
        votes = row[len(row) - len(VOTE_COLUMNS):]
        if line == 1 and not row[0].lower().endswith(".png") and not votes[0].strip().isdigit():
            continue  # a header row
        image = row[0].strip()
        if not image or "/" in image or "\\" in image or image in (".", "..") or not image.isprintable():
            raise UserError(f"{where} line {line}: image name {image!r} must be a file name inside {folder}/")
        rows.append((image, parse_votes(votes, where, line)))
    return rows


def _load_microsoft_layout(source, folder, split, limit):
    rows = read_label_csv(source, f"{folder}/label.csv")
    if not rows:
        raise UserError(f"{source.describe(folder + '/label.csv')} is empty")
    kept = [(name, label, votes) for name, votes in rows if (label := majority_label(votes)) is not None]
    if not kept:
        raise UserError(f"{source.describe(folder + '/label.csv')}: none of its {len(rows)} images has a "
                        f"majority label")
    if limit is not None:
        kept = kept[:limit]
    names = [name for name, _, _ in kept]
    images, ok = decode_files(source, [f"{folder}/{name}" for name in names])
    return LabeledImages(
        dataset="ferplus",
        split=split,
        class_names=FERPLUS_CLASSES,
        images=images,
        labels=np.array([label for _, label, _ in kept], np.int64),
        names=names,
        votes=_votes_array([votes for _, _, votes in kept]),
    ).without_undecoded(ok)


def _load_from_csv_pair(source, new_csv, split, limit, where):
    """fer2013new.csv (labels) + fer2013.csv (pixels), row by row."""
    pixels_csv = _find_file(source.files(), "fer2013.csv")
    if pixels_csv is None:
        raise UserError(f"{where}: {new_csv} needs the original fer2013.csv beside it (it holds the pixels)")
    usage = fer2013.USAGE[split]
    label_rows = csv_rows(source, new_csv)
    header = next(label_rows, None)
    expected = 2 + len(VOTE_COLUMNS)
    if header is None or len(header) != expected or header[0].strip().lower() != "usage":
        raise UserError(f"{source.describe(new_csv)} line 1: expected the header Usage,Image name,"
                        f"{','.join(VOTE_COLUMNS)}")
    wanted = {}  # fer2013.csv row → (image name, label, votes)
    in_split = 0
    for row_number, row in enumerate(label_rows):
        line = row_number + 2
        if len(row) != expected:
            raise UserError(f"{source.describe(new_csv)} line {line}: {len(row)} columns, expected {expected}")
        if row[0].strip() != usage or not row[1].strip():
            continue
        in_split += 1
        votes = parse_votes(row[2:], source.describe(new_csv), line)
        label = majority_label(votes)
        if label is not None:
            wanted[row_number] = (row[1].strip(), label, votes)
            if limit is not None and len(wanted) >= limit:
                break
    if not in_split:
        raise UserError(f"{source.describe(new_csv)}: no {usage} rows: the {split} split is not in this copy")
    if not wanted:
        raise UserError(f"{source.describe(new_csv)}: none of the {in_split} {usage} images has a majority label")
    rows, images, _ = fer2013.read_csv_rows(source, pixels_csv, set(wanted))
    order = [row for row in sorted(wanted) if row in rows]
    if len(order) != len(wanted):
        missing = min(set(wanted) - set(order))
        raise UserError(f"{source.describe(pixels_csv)} has no row {missing}, which {new_csv} labels: "
                        f"use the fer2013.csv that matches fer2013new.csv")
    return LabeledImages(
        dataset="ferplus",
        split=split,
        class_names=FERPLUS_CLASSES,
        images=images[[rows[r] for r in order]] if order else np.zeros((0, IMAGE_SIZE, IMAGE_SIZE), np.uint8),
        labels=np.array([wanted[r][1] for r in order], np.int64),
        names=[wanted[r][0] for r in order],
        votes=_votes_array([wanted[r][2] for r in order]),
    )


def _find_file(files, basename):
    """The shallowest file called ``basename`` (case-insensitive), or None."""
    matches = [f for f in files if f.rsplit("/", 1)[-1].lower() == basename.lower()]
    return min(matches, key=lambda f: f.count("/")) if matches else None
