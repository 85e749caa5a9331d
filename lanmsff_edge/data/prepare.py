"""From the public downloads to the layouts the loaders and the README's commands use (``lanmsff-edge data prepare``).

- ``ferplus``: Microsoft's label file ``fer2013new.csv`` (github.com/microsoft/FERPlus) and Kaggle's FER-2013
  ``fer2013.csv`` (inside the challenge's ``fer2013.tar.gz``) → ``FER2013Train/``, ``FER2013Valid/``,
  ``FER2013Test/``, each with its 48×48 PNGs and a ``label.csv``: what Microsoft's ``generate_training_data.py``
  writes (each PNG named as its fer2013new.csv row names it, with the pixels of the fer2013.csv row of the same
  number; rows without a name are the images FERPlus dropped).
- ``fer2013``: Kaggle's ``fer2013.csv``, checked, as ``fer2013/fer2013.csv``.

The output is a folder, or with a ``.tar.gz`` name an archive holding ``ferplus/`` or ``fer2013/`` (the layout of
the README's ``ferplus.tar.gz`` / ``fer2013_csv.tar.gz``). Everything read is checked: headers, every row (pixels,
labels, votes), that the two files agree row by row on Usage, and the row counts against the public release
(``PUBLIC_ROWS``): other counts are a warning, since a copy may be partial on purpose. Nothing is overwritten: an
existing output is refused, and the output appears only once complete.
"""
import os
import shutil
import tarfile
import tempfile
from collections import Counter
from pathlib import Path

from lanmsff_edge.data import fer2013
from lanmsff_edge.data.ferplus import FOLDERS, LABEL_COLUMNS, VOTE_COLUMNS, majority_label, parse_votes
from lanmsff_edge.data.sources import csv_rows, open_source
from lanmsff_edge.errors import UserError
from lanmsff_edge.log import get_logger

LOGGER = get_logger(__name__)

# fer2013.csv as Kaggle's "Challenges in Representation Learning: Facial Expression Recognition" ships it (and
# fer2013new.csv, which has one row per fer2013.csv row).
PUBLIC_ROWS = {"Training": 28_709, "PublicTest": 3_589, "PrivateTest": 3_589}
SPLIT_OF_USAGE = {usage: split for split, usage in fer2013.USAGE.items()}
FACE_BOX = "(0, 0, 48, 48)"  # the face box Microsoft's label.csv files give every image
ARCHIVE_SUFFIXES = (".tar.gz", ".tgz", ".tar", ".zip")
PROGRESS_EVERY = 5_000  # rows between two progress lines


def find_download(folder, name):
    """``(source, member)`` of the file called ``name`` (case-insensitive) in ``folder`` or in an archive directly
    inside it (Kaggle's ``fer2013.tar.gz``, a FERPlus checkout's zip); the shallowest one wins. None when absent."""
    folder = Path(folder)
    if folder.is_file():
        if folder.name.lower() == name.lower():
            return open_source(folder.parent), folder.name
        folder_source = open_source(folder)  # an archive given directly
        sources = [folder_source]
    else:
        sources = [open_source(folder)] + [open_source(path) for path in sorted(folder.iterdir())
                                           if path.is_file() and path.name.lower().endswith(ARCHIVE_SUFFIXES)]
    for source in sources:
        matches = [f for f in source.files() if f.rsplit("/", 1)[-1].lower() == name.lower()]
        if matches:
            return source, min(matches, key=lambda f: f.count("/"))
    return None


def _require(folder, name, what):
    found = find_download(folder, name)
    if found is None:
        raise UserError(f"--from {folder}: no {name} in it (nor in an archive inside it): {what}")
    return found


FER2013_WHERE = ("Kaggle's FER-2013 (kaggle.com/c/challenges-in-representation-learning-facial-expression-"
                 "recognition-challenge/data, fer2013.tar.gz); docs/data.md")
FERPLUS_WHERE = "fer2013new.csv of github.com/microsoft/FERPlus; docs/data.md"


def _count_warnings(counts, what):
    """A warning when the Usage counts are not the public release's (a partial copy, or another file)."""
    if dict(counts) == PUBLIC_ROWS:
        return []
    found = ", ".join(f"{counts.get(usage, 0):,} {usage}" for usage in PUBLIC_ROWS)
    public = ", ".join(f"{count:,} {usage}" for usage, count in PUBLIC_ROWS.items())
    return [f"{what} has {found} rows; the public release has {public}: a partial or another copy"]


def read_ferplus_labels(source, name):
    """The rows of fer2013new.csv as ``(Usage, image name or "", votes)``, checked like the loader checks them."""
    rows = csv_rows(source, name)
    where = source.describe(name)
    header = next(rows, None)
    if header is None or len(header) != LABEL_COLUMNS or header[0].strip().lower() != "usage":
        raise UserError(f"{where} line 1: expected the header Usage,Image name,{','.join(VOTE_COLUMNS)}")
    labels = []
    for line, row in enumerate(rows, start=2):
        if not row:
            continue
        if len(row) != LABEL_COLUMNS:
            raise UserError(f"{where} line {line}: {len(row)} columns, expected {LABEL_COLUMNS}")
        usage, image = row[0].strip(), row[1].strip()
        if usage not in SPLIT_OF_USAGE:
            raise UserError(f"{where} line {line}: Usage {usage!r} is not Training, PublicTest or PrivateTest")
        if image and (not image.lower().endswith(".png") or "/" in image or "\\" in image):
            raise UserError(f"{where} line {line}: image name {image!r} must be a .png file name")
        labels.append((usage, image, parse_votes(row[2:], where, line)))
    return labels


class _Output:
    """A folder (``path``) or a ``.tar.gz`` holding ``top/``, written under a temporary name and put in place by
    ``finish`` only when complete; an existing ``path`` is refused before anything is read."""

    def __init__(self, path, top):
        self.path, self.top = Path(path), top
        self.archive = self.path.name.lower().endswith((".tar.gz", ".tgz"))
        if self.path.exists() and (not self.path.is_dir() or any(self.path.iterdir())):
            raise UserError(f"--out {self.path} already exists: give a new name (nothing is overwritten)")
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self.staging = Path(tempfile.mkdtemp(prefix=f".{self.path.name}.", dir=self.path.parent))

    def write(self, relative, data):
        target = self.staging / relative
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_bytes(data)

    def finish(self):
        if self.archive:
            packed = self.staging.with_name(self.staging.name + ".tar.gz")
            with tarfile.open(packed, "w:gz", compresslevel=6) as tar:
                tar.add(self.staging, arcname=self.top)
            os.replace(packed, self.path)
            shutil.rmtree(self.staging)
        else:
            if self.path.is_dir():
                self.path.rmdir()  # empty (checked in __init__)
            os.replace(self.staging, self.path)

    def abandon(self):
        shutil.rmtree(self.staging, ignore_errors=True)
        self.staging.with_name(self.staging.name + ".tar.gz").unlink(missing_ok=True)


def _png(pixels):
    import cv2

    ok, encoded = cv2.imencode(".png", pixels)
    if not ok:
        raise UserError("cannot encode a PNG")
    return encoded.tobytes()


def prepare_ferplus(source_folder, out):
    """Build the FERPlus layout from fer2013new.csv + fer2013.csv in ``source_folder``; returns the report dict."""
    label_source, label_name = _require(source_folder, "fer2013new.csv", FERPLUS_WHERE)
    pixel_source, pixel_name = _require(source_folder, fer2013.CSV_NAME, FER2013_WHERE)
    labels = read_ferplus_labels(label_source, label_name)
    output = _Output(out, "ferplus")
    label_lines = {split: [] for split in FOLDERS}
    counts = {split: Counter() for split in FOLDERS}
    usage_counts = Counter()
    rows = 0
    try:
        for row_number, usage, _, pixels in fer2013.iter_csv(pixel_source, pixel_name):
            rows = row_number + 1
            if row_number >= len(labels):
                raise UserError(f"{pixel_source.describe(pixel_name)} has more rows than "
                                f"{label_source.describe(label_name)} ({len(labels):,}): use the fer2013.csv these "
                                "labels were made for")
            label_usage, image, votes = labels[row_number]
            if label_usage != usage:
                raise UserError(f"{pixel_source.describe(pixel_name)} line {row_number + 2} is {usage} but "
                                f"{label_name} line {row_number + 2} is {label_usage}: not the fer2013.csv these "
                                "labels were made for")
            usage_counts[usage] += 1
            split = SPLIT_OF_USAGE[usage]
            counts[split]["rows"] += 1
            if image:
                output.write(f"{FOLDERS[split]}/{image}", _png(pixels))
                label_lines[split].append(f'{image},"{FACE_BOX}",{",".join(map(str, votes))}')
                counts[split]["images"] += 1
                counts[split]["majority"] += majority_label(votes) is not None
            if rows % PROGRESS_EVERY == 0:
                LOGGER.info(f"  {rows:,} of {len(labels):,} rows")
        if rows != len(labels):
            raise UserError(f"{pixel_source.describe(pixel_name)} has {rows:,} rows but {label_name} has "
                            f"{len(labels):,}: use the fer2013.csv these labels were made for")
        for split, lines in label_lines.items():
            if lines:
                output.write(f"{FOLDERS[split]}/label.csv", ("\n".join(lines) + "\n").encode())
        output.finish()
    except BaseException:
        output.abandon()
        raise
    return {"dataset": "ferplus", "out": str(out), "rows": rows,
            "splits": {FOLDERS[split]: dict(counts[split]) for split in FOLDERS if counts[split]["rows"]},
            "warnings": _count_warnings(usage_counts, pixel_name)}


def prepare_fer2013(source_folder, out):
    """Check Kaggle's fer2013.csv in ``source_folder`` (every row) and write it as ``fer2013/fer2013.csv``."""
    source, name = _require(source_folder, fer2013.CSV_NAME, FER2013_WHERE)
    output = _Output(out, "fer2013")
    usage_counts, emotions = Counter(), Counter()
    try:
        for row_number, usage, emotion, _ in fer2013.iter_csv(source, name):
            usage_counts[usage] += 1
            emotions[emotion] += 1
            if (row_number + 1) % PROGRESS_EVERY == 0:
                LOGGER.info(f"  {row_number + 1:,} rows checked")
        if not usage_counts:
            raise UserError(f"{source.describe(name)} has no data rows")
        with source.open(name) as handle:
            data = handle.read()
        output.write(fer2013.CSV_NAME, data)
        output.finish()
    except BaseException:
        output.abandon()
        raise
    return {"dataset": "fer2013", "out": str(out), "rows": sum(usage_counts.values()),
            "splits": {usage: {"rows": usage_counts[usage]} for usage in PUBLIC_ROWS if usage_counts[usage]},
            "classes": {fer2013.FER2013_CLASSES[e]: emotions[e] for e in sorted(emotions)},
            "warnings": _count_warnings(usage_counts, name)}


PREPARERS = {"ferplus": prepare_ferplus, "fer2013": prepare_fer2013}
DEFAULT_OUT = {"ferplus": "ferplus.tar.gz", "fer2013": "fer2013_csv.tar.gz"}


def prepare(dataset, source_folder, out=None):
    """``prepare_ferplus`` or ``prepare_fer2013`` into ``out`` (default: the README's archive name)."""
    if dataset not in PREPARERS:
        raise UserError(f"data prepare {dataset}: choose one of {', '.join(PREPARERS)}")
    return PREPARERS[dataset](source_folder, Path(out or DEFAULT_OUT[dataset]))
