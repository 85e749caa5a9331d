"""Find faces in photos and crop them the way FER-2013 / FERPlus frames its faces.

Detectors (``make_detector``): MediaPipe's BlazeFace (``blazeface.py``, the default: it finds faces turned up to ~45°
and rotated in the image plane) and OpenCV's frontal-face Haar cascade (``haar``; its weights ship inside
``opencv-python-headless`` 4.x, the 5.x wheels dropped them). Nothing downloads.

Framing: FER-2013 faces are tightly cropped, and each detector's box relates to that frame in its own way, so a crop
is the detector's ``Framing``: a square of ``scale`` × the box's longer side about the box centre moved by ``shift``
× the box, fitted on FERPlus validation faces by ``benchmarks/face_detectors.py`` (Haar: 1.02, centred, median IoU
0.87 with the true frame; BlazeFace: 1.18, 9 % of the box up, IoU 0.77). Parts outside the photo are filled by
replicating the border, then the crop is resized to 64×64 gray exactly as the loaders resize training faces
(``data.decode.prepare_face``).

Roll: BlazeFace's eye keypoints give each face's in-plane rotation. FER faces are upright, so a face rolled by
``ROLL_UPRIGHT`` or more is cut out of the photo turned upright: the detector looks again at the turned face
(``upright_check``: its keypoints are coarse far from upright), and the crop is the FER frame in the turned photo.
Each ``Face`` carries the detector's score (0–1; for a turned face, the score of the upright face; None for Haar,
which gives none) and its roll.
"""
from dataclasses import dataclass

import numpy as np

from lanmsff_edge.errors import UserError

FRAME_SCALE = 1.02
ROLL_UPRIGHT = 15.0  # degrees: a face whose eyes are rolled more than this is cut out turned upright


@dataclass(frozen=True)
class Framing:
    """How a detector's box becomes the FER frame: a square of ``scale`` × the box's longer side, its centre moved
    by (``shift_x``, ``shift_y``) × the box's width and height (fitted by ``benchmarks/face_detectors.py``)."""

    scale: float
    shift_x: float = 0.0
    shift_y: float = 0.0

    def crop_box(self, box):
        x, y, w, h = box
        side = max(1, int(round(max(w, h) * self.scale)))
        cx, cy = x + w * (0.5 + self.shift_x), y + h * (0.5 + self.shift_y)
        return (int(round(cx - side / 2.0)), int(round(cy - side / 2.0)), side, side)


FRAMINGS = {"haar": Framing(FRAME_SCALE), "blazeface": Framing(1.18, 0.0, -0.09)}  # benchmarks/face_detectors.py
DETECTORS = ("blazeface", "haar")  # the first is the default
MIN_FACE = 24  # pixels: smallest face side the detectors report (the loaders' smallest usable image)
# Faces scoring less are dropped (predict --min-face-score). benchmarks/face_scores.py on 300 FERPlus validation
# faces and scikit-image's astronaut turned 0/90/180/270°: at 0.65 none of the photo's 5 false faces (best 0.60)
# and 95.0 % of upright real faces (97.7 % at MediaPipe's 0.5, which keeps 3 false faces), 74 % of faces rolled 90°.
MIN_FACE_SCORE = 0.65


def make_detector(name=DETECTORS[0], min_size=MIN_FACE, min_score=None):
    """A detector by name: ``blazeface`` (MediaPipe's short-range BlazeFace on LiteRT) or ``haar`` (OpenCV's
    frontal cascade; it gives no score, so ``min_score`` does not apply). ``min_size``: smallest face side in photo
    pixels; ``min_score``: the score a face needs (default ``MIN_FACE_SCORE``), checked by ``find_faces`` on the
    face's final score (a rolled face's upright one), so BlazeFace proposes candidates from its own 0.5 or the
    given score, whichever is lower."""
    if name == "blazeface":
        from lanmsff_edge.blazeface import MIN_SCORE, BlazeFaceDetector

        wanted = MIN_FACE_SCORE if min_score is None else float(min_score)
        detector = BlazeFaceDetector(min_score=min(MIN_SCORE, wanted), min_size=min_size)
        detector.framing, detector.min_face_score = FRAMINGS["blazeface"], wanted
        return detector
    if name == "haar":
        return HaarFaceDetector(min_size=min_size)
    raise UserError(f"unknown face detector {name!r}: choose one of {', '.join(DETECTORS)}")
CASCADE_FILE = "haarcascade_frontalface_default.xml"
DETECT_MAX_SIDE = 1280  # larger photos are shrunk for detection only (speed); boxes are mapped back


@dataclass
class Face:
    """One face: ``box`` is the detector's (x, y, w, h) in photo pixels, ``crop_box`` the square that was cut out
    (may extend past the photo), ``image`` the uint8 64×64 gray crop the model sees."""

    box: tuple
    crop_box: tuple
    image: np.ndarray
    score: float | None = None  # the detector's confidence (BlazeFace), None when it gives none
    roll: float | None = None  # the face's roll in degrees (eye keypoints), None: unknown; turned upright from
    #                            ROLL_UPRIGHT on


def read_image(path):
    """Decode an image file to a BGR uint8 array; an unreadable or undecodable file, or one too small to hold a
    face, is a ``UserError``."""
    import cv2

    from lanmsff_edge import userfiles
    from lanmsff_edge.data.decode import MIN_FACE_SIDE, decode_error, too_small

    try:
        data = np.frombuffer(userfiles.read_bytes(path, "image"), np.uint8)  # + imdecode: non-ASCII paths work
    except OSError as error:
        raise UserError(f"cannot read {path}: {error.strerror or error}") from None
    try:
        image = cv2.imdecode(data, cv2.IMREAD_COLOR) if data.size else None
    except cv2.error as error:
        raise UserError(f"cannot read {path}: {decode_error(error)}") from None
    if image is None:
        raise UserError(f"cannot read {path}: not an image OpenCV can decode (empty, truncated or another format)")
    if too_small(image):
        raise UserError(f"cannot use {path}: {image.shape[1]}×{image.shape[0]} pixels is too small to be a face "
                        f"(at least {MIN_FACE_SIDE}×{MIN_FACE_SIDE})")
    return image


def to_gray(image):
    """BGR, BGRA or gray uint8 → gray uint8 (H, W)."""
    import cv2

    image = np.asarray(image)
    if image.ndim == 2:
        return image
    if image.shape[2] == 1:
        return image[..., 0]
    code = cv2.COLOR_BGRA2GRAY if image.shape[2] == 4 else cv2.COLOR_BGR2GRAY
    return cv2.cvtColor(image, code)


class HaarFaceDetector:
    """``detect(gray) -> [(x, y, w, h), ...]`` sorted left to right (OpenCV's frontal-face Haar cascade)."""

    framing = FRAMINGS["haar"]

    def __init__(self, scale_factor=1.1, min_neighbors=5, min_size=24):
        import cv2

        if not hasattr(cv2, "CascadeClassifier") or not getattr(cv2, "data", None):
            raise UserError(f"OpenCV {cv2.__version__} has no Haar cascades (OpenCV 5 dropped them): "
                            "pip install 'opencv-python-headless<5', or pass --no-detect")
        path = cv2.data.haarcascades + CASCADE_FILE
        self.cascade = cv2.CascadeClassifier(path)
        if self.cascade.empty():
            raise UserError(f"cannot load the face detector {path}: reinstall opencv-python-headless (<5), "
                            "or pass --no-detect")
        self.scale_factor = scale_factor
        self.min_neighbors = min_neighbors
        self.min_size = min_size

    def detect(self, gray):
        import cv2

        height, width = gray.shape[:2]
        shrink = min(1.0, DETECT_MAX_SIDE / max(height, width))
        small = gray if shrink == 1.0 else cv2.resize(gray, (round(width * shrink), round(height * shrink)),
                                                      interpolation=cv2.INTER_AREA)
        boxes = self.cascade.detectMultiScale(cv2.equalizeHist(small), scaleFactor=self.scale_factor,
                                              minNeighbors=self.min_neighbors,
                                              minSize=(self.min_size, self.min_size))
        boxes = [tuple(int(round(v / shrink)) for v in box) for box in np.asarray(boxes).reshape(-1, 4)]
        return sorted(boxes, key=lambda box: (box[0], box[1]))


def square_crop_box(box, frame_scale=FRAME_SCALE):
    """The square (x, y, side, side) of ``frame_scale`` × the box's longer side, centred on the box."""
    x, y, w, h = box
    side = max(1, int(round(max(w, h) * frame_scale)))
    cx, cy = x + w / 2.0, y + h / 2.0
    return (int(round(cx - side / 2.0)), int(round(cy - side / 2.0)), side, side)


def cut(gray, crop_box):
    """The ``crop_box`` region of ``gray`` at its own resolution, the border replicated where it leaves the photo."""
    import cv2

    x, y, w, h = crop_box
    height, width = gray.shape[:2]
    pad = max(0, -x, -y, x + w - width, y + h - height)
    if pad:
        gray = cv2.copyMakeBorder(gray, pad, pad, pad, pad, cv2.BORDER_REPLICATE)
    return np.ascontiguousarray(gray[y + pad:y + pad + h, x + pad:x + pad + w])


def cut_turned(gray, box, crop_box, roll):
    """``crop_box`` of the photo turned by ``roll`` degrees about ``box``'s centre (counter-clockwise, as
    ``cv2.getRotationMatrix2D``): the rolled face's FER frame, upright; the border replicated outside the photo."""
    import cv2

    x, y, w, h = box
    turn = cv2.getRotationMatrix2D((x + w / 2, y + h / 2), roll, 1.0)
    turn[:, 2] -= crop_box[:2]
    return cv2.warpAffine(gray, turn, tuple(int(v) for v in crop_box[2:]), flags=cv2.INTER_LINEAR,
                          borderMode=cv2.BORDER_REPLICATE)


def _per_box(values, boxes):
    """A detector's per-box figures of its last call (``scores``, ``rolls``), or None for each box without them."""
    values = list(values or ())
    return values if len(values) == len(boxes) else [None] * len(boxes)


def find_faces(image, detect=True, detector=None, frame_scale=FRAME_SCALE):
    """Faces in a BGR or gray photo, left to right, as ``Face`` objects with 64×64 uint8 crops.

    ``detect=False``: the whole photo is the face (resized to 64×64; a non-square photo is stretched).
    ``detector``: anything with ``detect(gray) -> [(x, y, w, h)]`` (default: ``make_detector()``, BlazeFace); its
    ``framing`` (a ``Framing``) turns a box into the FER frame, else ``frame_scale`` × the box; its
    ``min_face_score`` (``make_detector``'s ``min_score``) drops faces that score less.
    Crops are resized by ``prepare_face``, the function the data loaders resize training faces with.
    """
    from lanmsff_edge.data.decode import prepare_face

    gray = to_gray(image)
    height, width = gray.shape[:2]
    if not detect:
        whole = (0, 0, width, height)
        return [Face(whole, whole, prepare_face(gray))]
    detector = detector or make_detector()
    framing = getattr(detector, "framing", None) or Framing(frame_scale)
    boxes = detector.detect(gray)
    scores, rolls = (_per_box(getattr(detector, name, None), boxes) for name in ("scores", "rolls"))
    least = getattr(detector, "min_face_score", None)
    faces = []
    for box, score, roll in sorted(zip(boxes, scores, rolls), key=lambda found: (found[0][0], found[0][1])):
        if roll is not None and abs(roll) >= ROLL_UPRIGHT and hasattr(detector, "upright_check"):
            checked = detector.upright_check(gray, box, roll)
            if checked is not None:  # the score of the face turned upright, as the classifier sees it
                score, residual = checked
                roll += residual
        crop_box = framing.crop_box(box)
        upright = roll is None or abs(roll) < ROLL_UPRIGHT
        patch = cut(gray, crop_box) if upright else cut_turned(gray, box, crop_box, roll)
        if least is not None and score is not None and score < least:
            continue
        faces.append(Face(tuple(int(v) for v in box), crop_box, prepare_face(patch), score,
                          None if roll is None else round(roll, 1)))
    return faces
