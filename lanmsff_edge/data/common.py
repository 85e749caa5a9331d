"""What every loader returns, and the preprocessing every model input goes through.

Loaders return a ``LabeledImages`` of uint8 64×64 grayscale faces (resized once at load time; uint8 keeps
FERPlus train at ~117 MB instead of ~470 MB as float). ``to_model_input`` turns them into what the network
sees: float32 N×64×64×1, min-max normalised per image to [0, 1] (paper IV.B). Training, evaluation,
calibration, prediction and the firmware golden input all go through that one function.
"""
from dataclasses import dataclass, field, replace

import numpy as np

IMAGE_SIZE = 64


MISSING_MARK = " (no such file)"  # appended to a skipped name whose file is not there


@dataclass
class LabeledImages:
    """One split of one data set.

    images: uint8 (N, 64, 64); labels: int64 (N,) indices into ``class_names``;
    poses: per-image pose tag (e.g. "-90", "0", "+45" for KDEF, or a pose-list name) or None when unknown;
    names: per-image source (file name or CSV row) for reports; skipped: undecodable inputs left out;
    votes: float32 (N, C) soft targets where the data set has them (FERPlus's crowd-vote distribution, each row
    summing to 1; its argmax is ``labels``), else None.
    """

    dataset: str
    split: str
    class_names: tuple
    images: np.ndarray
    labels: np.ndarray
    names: list = field(default_factory=list)
    poses: np.ndarray | None = None
    skipped: int = 0
    skipped_names: list = field(default_factory=list)
    votes: np.ndarray | None = None

    def __len__(self):
        return len(self.labels)

    @property
    def num_classes(self):
        return len(self.class_names)

    def subset(self, index):
        """The images selected by a boolean mask or an index array, other fields kept in step."""
        index = np.asarray(index)
        if index.dtype == bool:
            index = np.flatnonzero(index)
        return LabeledImages(
            dataset=self.dataset,
            split=self.split,
            class_names=self.class_names,
            images=self.images[index],
            labels=self.labels[index],
            names=[self.names[i] for i in index] if self.names else [],
            poses=None if self.poses is None else self.poses[index],
            skipped=self.skipped,
            skipped_names=list(self.skipped_names),
            votes=None if self.votes is None else self.votes[index],
        )

    def without_undecoded(self, status):
        """This split less the images a loader could not decode (``status`` of ``decode.decode_files``: not 1, or
        False), which join the skipped count and names; a file that does not exist is named with ``MISSING_MARK``."""
        status = np.asarray(status).astype(np.int8)
        undecoded = [name + (MISSING_MARK if state < 0 else "") for name, state in zip(self.names, status)
                     if state != 1]
        return replace(self.subset(status == 1), skipped=self.skipped + len(undecoded),
                       skipped_names=list(self.skipped_names) + undecoded)

    def skipped_text(self):
        """"3 train image(s) could not be decoded (a.png, b.png, c.png)", or, when some are not there at all,
        "… could not be used: 2 missing (x.png, y.png), 1 undecodable (a.png)"; "" when none was skipped."""
        if not self.skipped:
            return ""
        missing = [name[:-len(MISSING_MARK)] for name in self.skipped_names if name.endswith(MISSING_MARK)]
        broken = [name for name in self.skipped_names if not name.endswith(MISSING_MARK)]

        def shown(names, count):
            return ", ".join(names[:3]) + (" …" if count > 3 else "")

        if not missing:
            return f"{self.skipped:,} {self.split} image(s) could not be decoded ({shown(broken, self.skipped)})"
        text = f"{self.skipped:,} {self.split} image(s) could not be used: {len(missing):,} missing, no such file " \
               f"({shown(missing, len(missing))})"
        undecodable = self.skipped - len(missing)
        return text + (f"; {undecodable:,} could not be decoded ({shown(broken, undecodable)})" if undecodable else "")

    def class_counts(self):
        return np.bincount(self.labels, minlength=self.num_classes)


def min_max(images):
    """Per-image min-max scaling of any-shaped (N, H, W[, 1]) arrays to float32 [0, 1]; flat images → 0."""
    images = np.asarray(images, dtype=np.float32)
    axes = tuple(range(1, images.ndim))
    low = images.min(axis=axes, keepdims=True)
    span = images.max(axis=axes, keepdims=True) - low
    return np.where(span > 0, (images - low) / np.where(span > 0, span, 1.0), 0.0).astype(np.float32)


def to_model_input(images):
    """uint8 (N, 64, 64) or (N, 64, 64, 1) → float32 (N, 64, 64, 1) in [0, 1], per-image min-max."""
    images = np.asarray(images)
    if images.ndim == 3:
        images = images[..., None]
    if images.shape[1:] != (IMAGE_SIZE, IMAGE_SIZE, 1):
        raise ValueError(f"expected images of shape (N, {IMAGE_SIZE}, {IMAGE_SIZE}[, 1]), got {images.shape}")
    return min_max(images)
