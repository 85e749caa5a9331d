"""Image bytes → the stored form: uint8 64×64 grayscale.

Enlarging (FER's 48×48 → 64×64) is bilinear; shrinking (KDEF's 562×762 photos) uses area averaging, which is
bilinear's anti-aliased counterpart (plain bilinear would alias a ×9 reduction). Camera frames at prediction time
should go through ``prepare_face`` too, so a deployed model sees what it was trained on.
"""
import cv2
import numpy as np

from lanmsff_edge.data.common import IMAGE_SIZE

cv2.setNumThreads(1)  # tiny images: threads only add overhead on shared cores
# errors only: a truncated file is counted as skipped by the loaders, not announced by a WARN line of OpenCV's own
cv2.utils.logging.setLogLevel(cv2.utils.logging.LOG_LEVEL_ERROR)

DECODED, UNDECODABLE, MISSING = 1, 0, -1  # decode_files' status of each file
MIN_FACE_SIDE = 24  # smaller than the face detector's smallest face: not a face, whatever the resize makes of it


def too_small(image):
    """True for an image with a side under ``MIN_FACE_SIDE`` pixels (a 1×1 PNG would otherwise be "classified")."""
    return min(image.shape[:2]) < MIN_FACE_SIDE


def decode_error(error):
    """One line for a ``cv2.error`` raised while decoding (OpenCV's own text spans lines and names its sources)."""
    text = str(error)
    if "pixels" in text.lower() or "CV_IO_MAX_IMAGE" in text:
        return ("the image is larger than OpenCV decodes (its limit is 2^30 pixels, see CV_IO_MAX_IMAGE_PIXELS); "
                "scale it down first")
    return "OpenCV could not decode it (a damaged or unsupported image)"


def centre_square(gray):
    """The largest centred square of a 2-D image."""
    height, width = gray.shape
    side = min(height, width)
    top, left = (height - side) // 2, (width - side) // 2
    return gray[top:top + side, left:left + side]


def prepare_face(gray, square_crop=False):
    """2-D grayscale array (any size, uint8) → uint8 64×64; ``square_crop`` takes the centred square first."""
    gray = np.asarray(gray)
    if gray.ndim == 3:
        gray = cv2.cvtColor(gray, cv2.COLOR_BGR2GRAY) if gray.shape[2] == 3 else gray[..., 0]
    if gray.dtype != np.uint8:
        gray = np.clip(gray, 0, 255).astype(np.uint8)
    if square_crop:
        gray = centre_square(gray)
    if gray.shape == (IMAGE_SIZE, IMAGE_SIZE):
        return gray.copy()
    shrinking = gray.shape[0] > IMAGE_SIZE or gray.shape[1] > IMAGE_SIZE
    interpolation = cv2.INTER_AREA if shrinking else cv2.INTER_LINEAR
    return cv2.resize(gray, (IMAGE_SIZE, IMAGE_SIZE), interpolation=interpolation)


def decode_gray(data):
    """Encoded image bytes → 2-D uint8 grayscale array, or None when undecodable or too small to be a face."""
    if not data:
        return None
    try:
        gray = cv2.imdecode(np.frombuffer(data, np.uint8), cv2.IMREAD_GRAYSCALE)
    except cv2.error:  # beyond OpenCV's pixel limit, a damaged header: not a face the loaders can use
        return None
    if gray is None or gray.size == 0 or too_small(gray):
        return None
    return gray


def decode_files(source, names, square_crop=False):
    """Decode ``names`` from a Source into uint8 (N, 64, 64) in the order given.

    Returns (images, status): status[i] is ``DECODED`` (1), ``UNDECODABLE`` (0: unreadable, undecodable or too
    small) or ``MISSING`` (-1: no such file in the source); the rows of the files not decoded are zero.
    """
    index = {name: i for i, name in enumerate(names)}
    images = np.zeros((len(names), IMAGE_SIZE, IMAGE_SIZE), np.uint8)
    status = np.zeros(len(names), np.int8)
    for name, data in source.iter_bytes(names):
        gray = decode_gray(data) if data is not None else None
        if gray is not None:
            i = index[name]
            images[i] = prepare_face(gray, square_crop)
            status[i] = DECODED
    if not status.all():
        present = set(source.files())
        status[[i for i, name in enumerate(names) if status[i] != DECODED and name not in present]] = MISSING
    return images, status
