"""RAN's pose lists (Pose-FERPlus, Pose-FER-2013): one ``label/fer0032226.jpg`` per line.

An image is matched by its number: FERPlus ``fer0032226.png`` and row 32226 of fer2013.csv. The list's label
(FERPlus order) is checked for form only; the data set's own label is used, so the same list serves FER-2013's
7 classes. The list's file stem becomes the pose tag (e.g. ``pose_gt30.txt`` → "pose_gt30").
"""
import re
from pathlib import Path

import numpy as np

from lanmsff_edge.data.classes import FERPLUS_CLASSES
from lanmsff_edge.data.common import LabeledImages
from lanmsff_edge.errors import UserError
from lanmsff_edge.text import read_text

_ENTRY = re.compile(r"^(\d+)[/\\](?:.*[/\\])?fer(\d+)\.\w+$", re.IGNORECASE)
_FERPLUS_NAME = re.compile(r"(?:^|/)fer(\d+)\.\w+$", re.IGNORECASE)
_CSV_ROW = re.compile(r" row (\d+)$")


def read_pose_list(path):
    """(pose name, [image number, ...]) from a pose-list file."""
    path = Path(path)
    if not path.is_file():
        raise UserError(f"pose list {path}: no such file")
    numbers = []
    for line_number, line in enumerate(read_text(path).splitlines(), start=1):
        line = line.strip()
        if not line:
            continue
        match = _ENTRY.match(line)
        if match is None:
            raise UserError(f"pose list {path} line {line_number}: expected 'label/fer0032226.jpg', got {line!r}")
        if int(match.group(1)) >= len(FERPLUS_CLASSES):
            raise UserError(f"pose list {path} line {line_number}: label {match.group(1)} is not 0-7 (FERPlus order)")
        numbers.append(int(match.group(2)))
    if not numbers:
        raise UserError(f"pose list {path} is empty")
    return path.stem, numbers


def image_number(name):
    """The FER-2013 image number behind a loader's image name, or None (image-folder release, KDEF, ...)."""
    match = _FERPLUS_NAME.search(name) or _CSV_ROW.search(name)
    return int(match.group(1)) if match else None


def select(images: LabeledImages, pose_lists, data=None):
    """The images on each list, tagged with the list's name; an image on several lists appears once per list."""
    numbers = [image_number(name) for name in images.names]
    if images.names and numbers[0] is None:
        raise UserError(f"pose lists match images by their FER-2013 number (fer0032226.png, fer2013.csv row "
                        f"32226), but {data or images.dataset} names its images like {images.names[0]!r}: "
                        f"the image-folder release of FER-2013 has no row numbers, use its fer2013.csv")
    position = {number: i for i, number in enumerate(numbers)}
    parts, poses = [], []
    for pose_list in pose_lists:
        pose, listed = read_pose_list(pose_list)
        chosen = sorted({position[n] for n in listed if n in position})
        if not chosen:
            raise UserError(f"pose list {pose_list}: none of its {len(listed)} images is in the "
                            f"{images.dataset} {images.split} split")
        parts.append(np.array(chosen, np.int64))
        poses += [pose] * len(chosen)
    selected = images.subset(np.concatenate(parts))
    selected.poses = np.array(poses, dtype=object)
    return selected
