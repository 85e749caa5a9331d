"""``train --teacher MODEL``: learn from a trained model's predictions as well as the labels (knowledge distillation).

Offline distillation: before the first epoch the teacher (a preset such as ``ferplus``, a model file or a run folder,
with the run's classes) predicts every training image once, as it is, un-augmented. The run then learns the soft
targets ``(1 − w)·base + w·teacher``: ``base`` is what ``--targets`` names (the one-hot majority label, or FERPlus's
vote distribution) and ``w`` is ``--teacher-weight``. No teacher pass runs per batch, so a width-0.25 student
trains at its own speed; an expression does not change under the online augmentation's flips, shifts and small
rotations, so the un-augmented image's prediction stands for its crops. Validation stays on majority labels, so
a distilled run's figures compare with any other's. QAT fine-tuning (``quantize``) uses the base targets alone.
The predictions are cached (``teacher/`` in the image cache, keyed by the teacher file's and the images' content),
so a resumed run or a second stage does not pay for the teacher pass again.
"""
import hashlib
from dataclasses import replace
from pathlib import Path

import numpy as np

from lanmsff_edge.errors import UserError
from lanmsff_edge.log import get_logger

LOGGER = get_logger(__name__)


def resolve_teacher(reference):
    """The model file ``reference`` names (a preset's float file; a run folder's model.keras or best weights)."""
    from lanmsff_edge.artifacts.reference import resolve_model_path

    return Path(resolve_model_path(str(reference), bundled_format="float"))


def teacher_probabilities(path, images, reference=None):
    """(N, C) float32 probabilities of the teacher in ``path`` on ``images`` (``LabeledImages``, un-augmented).
    A teacher whose classes are not the data set's is a ``UserError``."""
    from lanmsff_edge.artifacts.reference import run_config
    from lanmsff_edge.runtimes import open_runtime, predict_faces

    name = reference or path
    entry = _cache_entry(path, images)  # an entry exists only for a teacher that passed the checks below
    cached = _load_cached(entry, len(images), images.num_classes)
    if cached is not None:
        return cached
    runtime = open_runtime(Path(path))
    if runtime.num_classes != images.num_classes:
        raise UserError(f"--teacher {name} has {runtime.num_classes} classes but {images.dataset} has "
                        f"{images.num_classes} ({', '.join(images.class_names)}): a teacher must predict the "
                        "run's classes")
    names = run_config(path).get("class_names")
    if names and tuple(names) != tuple(images.class_names):
        raise UserError(f"--teacher {name} predicts {', '.join(names)}, in that order, but {images.dataset} has "
                        f"{', '.join(images.class_names)}")
    probabilities = np.asarray(predict_faces(runtime, images.images), np.float32)
    _store(entry, probabilities)
    return probabilities


def _cache_entry(path, images):
    from lanmsff_edge.data.cache import cache_dir

    teacher = hashlib.sha256(Path(path).read_bytes()).hexdigest()[:16]
    pixels = hashlib.sha256(np.ascontiguousarray(images.images).tobytes())
    pixels.update(repr((images.images.shape, tuple(images.class_names))).encode())
    return cache_dir() / "teacher" / f"{images.dataset}-{images.split}-{teacher}-{pixels.hexdigest()[:16]}.npy"


def _load_cached(entry, count, classes):
    try:
        stored = np.load(entry, allow_pickle=False)
    except (OSError, ValueError, EOFError):
        return None  # absent or damaged: predict again
    return stored if stored.shape == (count, classes) and np.isfinite(stored).all() else None


def _store(entry, probabilities):
    """Write the cache entry atomically; an unwritable or full cache folder only means no caching."""
    from lanmsff_edge.atomic import atomic_path
    from lanmsff_edge.errors import WriteError

    try:
        with atomic_path(entry) as temporary:
            with open(temporary, "wb") as handle:
                np.save(handle, probabilities)
    except (WriteError, OSError):
        LOGGER.debug(f"teacher predictions not cached ({entry.parent} not writable)")


def distilled(images, teacher_probs, weight, soft_base):
    """``images`` with soft targets ``(1 − weight)·base + weight·teacher_probs`` in ``votes`` (what the pipeline
    trains on with soft targets); ``soft_base``: the base is the vote distribution, else the one-hot label."""
    if not 0.0 <= float(weight) <= 1.0:
        raise UserError(f"--teacher-weight must be between 0 and 1, got {weight}")
    if soft_base and images.votes is None:
        raise UserError(f"{images.dataset} {images.split}: no vote distributions to mix with the teacher's")
    base = images.votes if soft_base else np.eye(images.num_classes, dtype=np.float32)[images.labels]
    teacher = np.asarray(teacher_probs, np.float64)
    teacher = teacher / teacher.sum(axis=1, keepdims=True)  # a float32 softmax sums to 1 within ~1e-7
    mixed = (1.0 - float(weight)) * base.astype(np.float64) + float(weight) * teacher
    return replace(images, votes=mixed.astype(np.float32))


def with_teacher(images, reference, weight, soft_base, path=None):
    """The training split with the teacher's predictions mixed into its targets, logged with their agreement."""
    path = Path(path) if path is not None else resolve_teacher(reference)
    probabilities = teacher_probabilities(path, images, reference)
    agreement = float(np.mean(probabilities.argmax(axis=1) == images.labels))
    LOGGER.info(f"teacher {reference} ({path.name}) agrees with {100 * agreement:.1f} % of the {len(images):,} "
                f"training labels; targets: {1 - float(weight):g} × {'votes' if soft_base else 'labels'} + "
                f"{float(weight):g} × teacher")
    return distilled(images, probabilities, weight, soft_base)
