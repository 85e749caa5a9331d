"""``evaluate --tta flip|crops``: test-time augmentation, reported beside the single-crop figure, never instead.

``flip`` averages the probabilities of each face and its mirror image (2 views); ``crops`` those of five crops —
the four corners and the centre, each ``CROP`` pixels square and resized back to 64×64, the same zoom as the
training augmentation's 64-of-72 crop — and their mirrors (10 views, the "ten-crop" of the FER-2013 literature).
Each view costs one inference, so TTA multiplies the latency by the number of views; a microcontroller runs one
view, which is why the headline accuracy stays single-crop.
"""
import numpy as np

from lanmsff_edge.data.common import IMAGE_SIZE
from lanmsff_edge.errors import UserError

TTA_MODES = ("flip", "crops")
CROP = 57  # 64 × 64 / 72: the window the training augmentation samples before resizing


def views(images, mode):
    """The uint8 (N, 64, 64) views of ``images`` that ``mode`` averages over, as a list of arrays."""
    if mode not in TTA_MODES:
        raise UserError(f"unknown --tta {mode!r}: choose one of {', '.join(TTA_MODES)}")
    images = np.asarray(images, np.uint8)
    if mode == "flip":
        return [images, images[:, :, ::-1]]
    crops = [_resized(images, top, left) for top, left in _crop_corners(images.shape[1], images.shape[2])]
    return crops + [crop[:, :, ::-1] for crop in crops]


def _crop_corners(height, width, size=CROP):
    low_y, low_x = height - size, width - size
    return [(0, 0), (0, low_x), (low_y, 0), (low_y, low_x), (low_y // 2, low_x // 2)]


def _resized(images, top, left, size=CROP):
    from PIL import Image

    out = np.empty((len(images), IMAGE_SIZE, IMAGE_SIZE), np.uint8)
    for index, image in enumerate(images):
        window = Image.fromarray(np.ascontiguousarray(image[top:top + size, left:left + size]))
        out[index] = np.asarray(window.resize((IMAGE_SIZE, IMAGE_SIZE), Image.BILINEAR))
    return out


def tta_probabilities(runtime, images, mode):
    """Mean (N, C) probabilities of ``runtime`` over the ``mode`` views of ``images``, and the number of views."""
    from lanmsff_edge.runtimes import predict_faces

    parts = views(images, mode)
    total = None
    for view in parts:
        probabilities = predict_faces(runtime, view).astype(np.float64)
        total = probabilities if total is None else total + probabilities
    return (total / len(parts)).astype(np.float32), len(parts)


def tta_metrics(runtime, images, mode, single_probabilities):
    """What ``evaluate`` adds for ``--tta`` (``images``: the ``LabeledImages`` split): the TTA accuracy and its paired
    comparison with the single crop."""
    from lanmsff_edge.evaluation.metrics import paired_comparison, wilson_interval

    probabilities, count = tta_probabilities(runtime, images.images, mode)
    predictions = probabilities.argmax(axis=1)
    correct = int(np.sum(predictions == images.labels))
    return {"mode": mode, "views": count, "accuracy": correct / max(1, len(images)), "correct": correct,
            "accuracy_ci95": list(wilson_interval(correct, len(images))),
            "vs_single_crop": paired_comparison(images.labels, predictions,
                                                np.asarray(single_probabilities).argmax(axis=1))}
