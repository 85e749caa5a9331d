"""Expressions of the faces in photos: detect → crop to the FER framing → 64×64 gray → model → top-k labels.

    classifier = load_classifier("ferplus")            # bundled int8 model through LiteRT
    results = predict_files(["a.jpg", "b.png"], classifier)
    for result in results: print("\\n".join(format_result(result)))

Models: a bundled name (``ferplus``: int8 by default), a ``.tflite`` file (LiteRT), a ``.keras`` file
or a training run folder (float Keras). Class names come from the model card / a sidecar JSON (``<model>.json``
written by quantize, the run's ``config.json``) or, failing those, from the class count (8 → FERPlus, 7 → FER-2013).
"""
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from lanmsff_edge.errors import UserError
from lanmsff_edge.faces import find_faces, read_image

NO_FACE_HINT = "no face found (if the image is already a face crop, use --no-detect)"
IMAGE_SUFFIXES = (".jpg", ".jpeg", ".png", ".bmp", ".webp", ".tif", ".tiff", ".pgm", ".ppm")


@dataclass
class FaceResult:
    """One classified face: detector box and crop square (x, y, w, h) in photo pixels, probabilities per class."""

    box: tuple
    crop_box: tuple
    probabilities: np.ndarray
    class_names: tuple
    step: float | None = None  # the output's quantization step (1/256 for int8), None for a float output
    score: float | None = None  # the face detector's confidence (BlazeFace), None without one (haar, --no-detect)
    roll: float | None = None  # the face's roll in degrees from its eyes; from faces.ROLL_UPRIGHT it was turned

    @property
    def index(self):
        return int(np.argmax(self.probabilities))

    @property
    def turned(self):
        """True when the crop was cut turned upright (its roll at least ``faces.ROLL_UPRIGHT``)."""
        from lanmsff_edge.faces import ROLL_UPRIGHT

        return self.roll is not None and abs(self.roll) >= ROLL_UPRIGHT

    @property
    def label(self):
        return self.class_names[self.index]

    @property
    def probability(self):
        return float(self.probabilities[self.index])

    def top(self, k=3):
        """The k most probable (label, probability) pairs, most probable first."""
        order = np.argsort(-self.probabilities, kind="stable")[:max(1, k)]
        return [(self.class_names[i], float(self.probabilities[i])) for i in order]


def format_probability(p, step=None):
    """``0.996``; for a quantized output as many decimals as its step resolves (1/256 → 3), and its lowest value
    as ``<0.004`` (below one step, not zero)."""
    if not step:
        return f"{p:.3f}"
    decimals = max(0, int(np.ceil(-np.log10(step))))
    if p < step / 2:
        return f"<{step:.{decimals}f}"
    return f"{p:.{decimals}f}"


def face_label(face):
    """``happiness 0.996``: the label and probability as both the text and the annotated image show them."""
    return f"{face.label} {format_probability(face.probability, face.step)}"


@dataclass
class ImageResult:
    """Everything predict found in one file; ``error`` is set (and ``faces`` empty) when it could not be read."""

    path: str
    size: tuple | None = None  # (width, height)
    faces: list = field(default_factory=list)
    error: str | None = None
    image: np.ndarray | None = field(default=None, repr=False)  # the decoded photo (BGR), for --annotate


class ExpressionClassifier:
    """A face classifier's ``runtimes.Runtime`` with the model's class names: uint8 (N, 64, 64) face crops → (N, C)
    probabilities."""

    def __init__(self, runtime, class_names, source, step=None):
        if len(class_names) != runtime.num_classes:
            raise UserError(f"{source} predicts {runtime.num_classes} classes but its labels name "
                            f"{len(class_names)} ({', '.join(class_names)})")
        self.runtime = runtime
        self.class_names = tuple(class_names)
        self.source = str(source)
        self.step = step  # quantization step of the output (int8: 1/256), None for float

    def __call__(self, crops):
        crops = np.asarray(crops, dtype=np.uint8)
        if len(crops) == 0:
            return np.zeros((0, len(self.class_names)), np.float32)
        from lanmsff_edge.runtimes import predict_faces

        return predict_faces(self.runtime, crops)


def load_classifier(model="ferplus", fmt="int8"):
    """An ``ExpressionClassifier`` for a bundled model name (in format ``fmt``) or a model file / run folder."""
    from lanmsff_edge.artifacts import presets
    from lanmsff_edge.artifacts.labels import class_names
    from lanmsff_edge.artifacts.reference import resolve_model_path
    from lanmsff_edge.runtimes import open_runtime

    path = resolve_model_path(model, bundled_format=fmt)
    if path.suffix not in (".tflite", ".keras", ".h5"):
        raise UserError(f"--model {model}: expected a bundled model, a .tflite or .keras file, or a run folder")
    runtime = open_runtime(path)
    source = f"{model} ({path.name}, bundled)" if presets.bundled_config(path) else path
    return ExpressionClassifier(runtime, class_names(path, runtime.num_classes), source, _output_step(path))


def _output_step(path):
    """The quantization step of a .tflite model's integer output (1/256 for the int8 models), else None."""
    if path.suffix != ".tflite":
        return None
    from lanmsff_edge.tflite_graph import read_tflite

    output = read_tflite(path).outputs[0]
    return float(output.scales[0]) if output.dtype in ("int8", "uint8", "int16") and output.scales else None


def predict_image(image, classifier, detect=True, detector=None):
    """``FaceResult`` per face of a decoded photo, left to right (one for the whole photo with ``detect=False``)."""
    faces = find_faces(image, detect=detect, detector=detector)
    probabilities = classifier(np.stack([face.image for face in faces])) if faces else []
    step = getattr(classifier, "step", None)
    return [FaceResult(face.box, face.crop_box, probs, classifier.class_names, step, face.score, face.roll)
            for face, probs in zip(faces, probabilities)]


def expand_inputs(paths):
    """Files stay as given; a folder becomes its image files (by suffix, sorted, not recursive)."""
    expanded = []
    for path in paths:
        path = Path(path)
        if path.is_dir():
            images = sorted(p for p in path.iterdir() if p.is_file() and p.suffix.lower() in IMAGE_SUFFIXES)
            expanded.extend(images or [path])  # an empty folder stays, to be reported as unreadable
        else:
            expanded.append(path)
    return expanded


def predict_files(paths, classifier, detect=True, detector=None, keep_images=False):
    """An ``ImageResult`` per image (folders expand to their images); a file that cannot be read gets ``error``
    set and the others go on."""
    if detect and detector is None:
        from lanmsff_edge.faces import make_detector

        detector = make_detector()
    results = []
    for path in expand_inputs(paths):
        if path.is_dir():
            results.append(ImageResult(str(path), error=f"cannot read {path}: a folder without image files "
                                                         f"({', '.join(IMAGE_SUFFIXES)})"))
            continue
        try:
            image = read_image(path)
        except UserError as error:
            results.append(ImageResult(str(path), error=str(error)))
            continue
        faces = predict_image(image, classifier, detect=detect, detector=detector)
        results.append(ImageResult(str(path), (image.shape[1], image.shape[0]), faces,
                                   image=image if keep_images else None))
    return results


def format_result(result, top_k=3):
    """Printable lines for one image."""
    if result.error:
        return [result.error]
    width, height = result.size
    head = f"{result.path}  {width}×{height}"
    if not result.faces:
        return [f"{head}  {NO_FACE_HINT}"]
    lines = [f"{head}  {len(result.faces)} face{'s' if len(result.faces) > 1 else ''}"]
    for number, face in enumerate(result.faces, start=1):
        x, y, w, h = face.box
        ranked = "  ".join(f"{name} {format_probability(p, face.step)}" for name, p in face.top(top_k))
        found = "" if face.score is None else f"  score {face.score:.2f}"
        turned = f", turned upright from {face.roll:+.0f}°" if face.turned else ""
        lines.append(f"  face {number}  at ({x}, {y}) {w}×{h}{found}{turned}  {face.label:<10} {ranked}")
    return lines


def results_to_json(results, classifier, top_k=3):
    """A JSON-ready dict of all results (``--json``)."""
    images = []
    for result in results:
        entry = {"path": result.path, "error": result.error}
        if not result.error:
            entry["width"], entry["height"] = result.size
            entry["faces"] = [{
                "box": list(face.box),
                "crop_box": list(face.crop_box),
                "detector_score": face.score,
                "roll_degrees": face.roll,
                "turned_upright": face.turned,
                "label": face.label,
                "probability": face.probability,
                "top_k": [{"label": name, "probability": p} for name, p in face.top(top_k)],
                "probabilities": {name: float(p) for name, p in zip(face.class_names, face.probabilities)},
            } for face in result.faces]
        images.append(entry)
    return {"model": classifier.source, "class_names": list(classifier.class_names), "images": images}


def annotated_image(image, faces):
    """A copy of a BGR photo with each face's box and ``label probability`` drawn on it."""
    import cv2

    canvas = image.copy() if image.ndim == 3 else cv2.cvtColor(image, cv2.COLOR_GRAY2BGR)
    height, width = canvas.shape[:2]
    thickness = max(2, round(min(height, width) / 250))
    for face in faces:
        x, y, w, h = face.box
        color = _class_color(face.index)
        cv2.rectangle(canvas, (x, y), (x + w - 1, y + h - 1), color, thickness)
        text = face_label(face)
        scale = max(0.35, min(1.5, w / 220))
        (text_w, text_h), baseline = cv2.getTextSize(text, cv2.FONT_HERSHEY_SIMPLEX, scale, thickness)
        top = y - text_h - baseline - 2 if y - text_h - baseline - 2 >= 0 else y  # above the box, else inside
        cv2.rectangle(canvas, (x, top), (x + text_w + 4, top + text_h + baseline + 2), color, cv2.FILLED)
        cv2.putText(canvas, text, (x + 2, top + text_h + 1), cv2.FONT_HERSHEY_SIMPLEX, scale, (255, 255, 255),
                    thickness, cv2.LINE_AA)
    return canvas


def annotated_name(source):
    """``<stem>_annotated<suffix>``: the name of a photo's annotated copy (PNG unless cv2 writes its own format)."""
    source = Path(source)
    suffix = source.suffix.lower() if source.suffix.lower() in (".jpg", ".jpeg", ".png", ".bmp") else ".png"
    return f"{source.stem}_annotated{suffix}"


def write_annotations(results, out_dir):
    """Write ``<stem>_annotated<suffix>`` into ``out_dir`` for each image with a face (atomically); returns paths.

    Needs results made with ``keep_images=True``. Two inputs with the same name get ``_2``, ``_3`` … suffixes.
    """
    import cv2

    from lanmsff_edge.atomic import write_bytes

    out_dir = Path(out_dir)
    written = []
    for result in results:
        if result.error or result.image is None or not result.faces:  # nothing to draw: no copy of the photo
            continue
        source = Path(result.path)
        target = out_dir / annotated_name(source)
        suffix = target.suffix
        number = 2
        while target in written:
            target = out_dir / f"{source.stem}_annotated_{number}{suffix}"
            number += 1
        ok, encoded = cv2.imencode(suffix, annotated_image(result.image, result.faces))
        if not ok:
            raise UserError(f"cannot encode {target}")
        write_bytes(target, encoded.tobytes())
        written.append(target)
    return written


def _class_color(index):
    """A distinct BGR colour per class index (matplotlib's tab10)."""
    palette = [(180, 119, 31), (14, 127, 255), (44, 160, 44), (40, 39, 214), (189, 103, 148), (75, 86, 140),
               (194, 119, 227), (127, 127, 127), (34, 189, 188), (207, 190, 23)]
    return palette[index % len(palette)]
