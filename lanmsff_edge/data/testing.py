"""Tiny data sets written in each real layout, for tests (ours and anyone testing a command on real formats).

Every writer returns what it wrote, so tests can compare what a loader reads back with what was put there.
"""
import csv
import tarfile
import zipfile
from pathlib import Path

import cv2
import numpy as np

from lanmsff_edge.data.ferplus import FOLDERS


def gray_image(rng, height=48, width=48):
    """A random gray image with structure (a bright square on a dark ground), uint8 (height, width)."""
    image = rng.integers(0, 60, (height, width)).astype(np.uint8)
    top, left = rng.integers(0, height // 2), rng.integers(0, width // 2)
    image[top:top + height // 3, left:left + width // 3] = rng.integers(150, 256)
    return image


def encode(image, suffix=".png"):
    ok, data = cv2.imencode(suffix, image)
    assert ok
    return data.tobytes()


def write_ferplus(root, rows_by_split, seed=0):
    """Microsoft's FERPlus layout. rows_by_split: {"train": [(name, [10 votes]), ...], ...}.

    Writes ``<root>/FER2013Train/label.csv`` (+ Valid/Test) and a 48×48 PNG per row; returns {name: image}.
    """
    rng = np.random.default_rng(seed)
    images = {}
    for split, rows in rows_by_split.items():
        folder = Path(root) / FOLDERS[split]
        folder.mkdir(parents=True, exist_ok=True)
        with open(folder / "label.csv", "w", newline="") as handle:
            writer = csv.writer(handle)
            for name, votes in rows:
                writer.writerow([name, "(0, 0, 48, 48)", *votes])
                images[name] = gray_image(rng)
                (folder / name).write_bytes(encode(images[name]))
    return images


def write_fer2013_csv(path, rows, seed=0):
    """Kaggle's fer2013.csv. rows: [(emotion, usage), ...] (random pixels) or [(emotion, usage, pixel string)].

    Returns the 48×48 images written (None for rows given an explicit pixel string).
    """
    rng = np.random.default_rng(seed)
    images = []
    Path(path).parent.mkdir(parents=True, exist_ok=True)
    with open(path, "w", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(["emotion", "pixels", "Usage"])
        for row in rows:
            if len(row) == 3:
                emotion, usage, pixels = row
                images.append(None)
            else:
                emotion, usage = row
                image = gray_image(rng)
                images.append(image)
                pixels = " ".join(str(v) for v in image.ravel())
            writer.writerow([emotion, pixels, usage])
    return images


def write_fer2013_folders(root, files, seed=0):
    """The image-folder release. files: [("train"|"test", class folder, file name), ...] → {path: image}."""
    rng = np.random.default_rng(seed)
    written = {}
    for top, folder, filename in files:
        path = Path(root) / top / folder / filename
        path.parent.mkdir(parents=True, exist_ok=True)
        image = gray_image(rng)
        path.write_bytes(encode(image, ".jpg"))
        written[path.relative_to(root).as_posix()] = image
    return written


def write_kdef(root, subjects=("F01", "F02", "M01", "M02", "F03", "M03"), sessions=("A", "B"),
               expressions=("AF", "AN", "DI", "HA", "NE", "SA", "SU"), angles=("FL", "HL", "S", "HR", "FR"),
               size=(38, 52), seed=0):
    """The KDEF tree ``KDEF/<id>/<id><expr><angle>.JPG`` with small colour JPEGs (width, height = size)."""
    rng = np.random.default_rng(seed)
    written = []
    for session in sessions:
        for subject in subjects:
            ident = f"{session}{subject}"
            for expression in expressions:
                for angle in angles:
                    path = Path(root) / "KDEF" / ident / f"{ident}{expression}{angle}.JPG"
                    path.parent.mkdir(parents=True, exist_ok=True)
                    colour = rng.integers(0, 256, (size[1], size[0], 3)).astype(np.uint8)
                    path.write_bytes(encode(colour, ".jpg"))
                    written.append(path.name)
    return written


def make_tar(folder, archive, top=None):
    """``folder`` as a .tar.gz at ``archive`` (its members under ``top``/, default the folder's name)."""
    with tarfile.open(archive, "w:gz") as tar:
        tar.add(folder, arcname=top or Path(folder).name)
    return Path(archive)


def make_zip(folder, archive):
    folder = Path(folder)
    with zipfile.ZipFile(archive, "w") as bundle:
        for path in sorted(folder.rglob("*")):
            if path.is_file():
                bundle.write(path, Path(folder.name) / path.relative_to(folder))
    return Path(archive)

