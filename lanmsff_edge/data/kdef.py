"""KDEF: 70 actors (35 F, 35 M), 2 sessions, 7 expressions, 5 head angles, colour 562×762 JPEGs.

File names ``<session><gender><number><expression><angle>.JPG``, e.g. ``AF01AFFL.JPG``: session A, female,
actor 01, expression AF (afraid), angle FL (full left). Angles FL −90°, HL −45°, S 0°, HR +45°, FR +90°
— 'S' is one letter, so names are parsed from both ends. Images are converted to gray, cropped to the centred
square (the face sits in the middle of KDEF's portrait frames) and reduced to 64×64.

Cross-validation: 5 folds over subjects (gender + number: both sessions of a person are one subject), fixed and
seed-free so results are comparable: subjects sorted by gender, then number, are dealt to folds 1..5 in turn
(7 women and 7 men per fold for the full set of 35 + 35). Fold k's subjects are its val and test split; train is
the rest.
"""
import re

import numpy as np

from lanmsff_edge.data.classes import FER2013_CLASSES
from lanmsff_edge.data.common import LabeledImages
from lanmsff_edge.data.decode import decode_files
from lanmsff_edge.data.sources import is_image_name, open_source
from lanmsff_edge.errors import UserError

FOLDS = 5
EXPRESSIONS = {"AF": "fear", "AN": "angry", "DI": "disgust", "HA": "happy", "NE": "neutral", "SA": "sad",
               "SU": "surprise"}
ANGLES = {"FL": "-90", "HL": "-45", "S": "0", "HR": "+45", "FR": "+90"}
POSES = ("-90", "-45", "0", "+45", "+90")
_NAME = re.compile(r"^([AB])([FM])(\d{2})(AF|AN|DI|HA|NE|SA|SU)(S|HL|HR|FL|FR)\.(?:jpe?g|png|bmp)$", re.IGNORECASE)


def parse_name(filename):
    """KDEF file name → dict(session, gender, number, subject, label, pose), or None when it is not one."""
    match = _NAME.match(filename.rsplit("/", 1)[-1])
    if match is None:
        return None
    session, gender, number, expression, angle = (part.upper() for part in match.groups())
    return dict(session=session, gender=gender, number=int(number), subject=f"{gender}{number}",
                label=FER2013_CLASSES.index(EXPRESSIONS[expression]), pose=ANGLES[angle])


def load_all(path):
    """Every KDEF image under ``path`` (split "all"); names not in KDEF's scheme are skipped and counted."""
    source = open_source(path)
    images_found = [name for name in source.files() if is_image_name(name)]
    parsed, unknown = [], []
    for name in images_found:
        info = parse_name(name)
        (parsed if info else unknown).append((name, info))
    if not parsed:
        raise UserError(f"{source.describe()} holds no KDEF images (file names like KDEF/AF01/AF01AFFL.JPG)")
    names = [name for name, _ in parsed]
    images, ok = decode_files(source, names, square_crop=True)
    not_kdef = [f"{name} (not a KDEF file name)" for name, _ in unknown]
    return LabeledImages(
        dataset="kdef",
        split="all",
        class_names=FER2013_CLASSES,
        images=images,
        labels=np.array([info["label"] for _, info in parsed], np.int64),
        names=names,
        poses=np.array([info["pose"] for _, info in parsed], dtype=object),
        skipped=len(not_kdef),
        skipped_names=not_kdef,
    ).without_undecoded(ok)


def subject_folds(subjects):
    """{subject: fold 1..5}: subjects ordered by gender then number, dealt round-robin to the folds."""
    ordered = sorted(set(subjects), key=lambda subject: (subject[0], int(subject[1:])))
    return {subject: rank % FOLDS + 1 for rank, subject in enumerate(ordered)}


def check_fold(fold):
    if fold is None:
        raise UserError(f"kdef needs --fold 1..{FOLDS} (5-fold cross-validation by subject)")
    if not 1 <= int(fold) <= FOLDS:
        raise UserError(f"--fold must be 1..{FOLDS}, got {fold}")


def select_fold(images: LabeledImages, fold, split):
    """The ``split`` of cross-validation fold ``fold`` (1..5) from ``load_all``'s images."""
    check_fold(fold)
    subjects = [parse_name(name)["subject"] for name in images.names]
    folds = subject_folds(subjects)
    in_fold = np.array([folds[subject] == int(fold) for subject in subjects], bool)
    chosen = in_fold if split in ("val", "test") else ~in_fold
    if not chosen.any():
        raise UserError(f"kdef fold {fold} has no {split} images: {len(set(subjects))} subject(s) found, "
                        f"5-fold cross-validation needs at least {FOLDS}")
    selected = images.subset(chosen)
    selected.split = split
    return selected
