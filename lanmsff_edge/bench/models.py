"""Models on the bench: open a ``.keras`` / ``.tflite`` image classifier, check that it takes images, feed it faces.

Any NHWC image classifier works (1 or 3 channels, any fixed H×W, N×K probabilities out), so a user's MobileNet
sits beside LANMSFF. The bench's faces are uint8 64×64 grayscale (the data contract); ``prepare_images`` resizes
them to the model's H×W, repeats the gray channel for RGB models and maps them to the model's input range.
LANMSFF's own input (64×64×1, [0, 1]) goes through ``to_model_input`` unchanged.

A ``.tflite`` file that is no image classifier (audio features, a dense model, an autoencoder) is a *tensor*
model (``spec`` None): it is timed, sized and compared between runtimes on seeded random inputs of its own input
shape, and has no accuracy (no face data set applies to it).
"""
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from lanmsff_edge.data.common import IMAGE_SIZE, min_max, to_model_input
from lanmsff_edge.errors import UserError

KERAS_SUFFIXES = (".keras", ".h5", ".hdf5")
TFLITE_SUFFIXES = (".tflite",)
INPUT_RANGES = {"0,1": (0.0, 1.0), "-1,1": (-1.0, 1.0), "0,255": (0.0, 255.0)}


@dataclass(frozen=True)
class ImageSpec:
    height: int
    width: int
    channels: int

    @property
    def shape(self):
        return (self.height, self.width, self.channels)


def image_spec(shape, source, signature=None):
    """The H×W×C of an N×H×W×C input with C in {1, 3}; anything else is a ``UserError`` naming the file."""
    shape = tuple(None if d is None or int(d) < 0 else int(d) for d in shape)
    text = "×".join("?" if d is None else str(d) for d in shape)
    if len(shape) != 4 or shape[3] not in (1, 3):
        raise UserError(f"{source}: input of shape {text} is not an image tensor "
                        f"(expected N×H×W×C with C = 1 or 3)")
    dynamic = signature is not None and len(signature) == 4 and any(int(d) < 0 for d in signature[1:3])
    if shape[1] is None or shape[2] is None or dynamic:
        raise UserError(f"{source}: input height/width are not fixed ({text}); export the model with a fixed "
                        f"input size")
    return ImageSpec(shape[1], shape[2], shape[3])


def prepare_images(images, spec, input_range=(0.0, 1.0)):
    """uint8 faces (N, h, w[, 1]) → float32 (N, H, W, C) for a model with input ``spec``, per-image min-max
    scaled to ``input_range``."""
    images = np.asarray(images)
    if images.ndim == 4 and images.shape[-1] == 1:
        images = images[..., 0]
    if images.ndim != 3:
        raise ValueError(f"expected grayscale images (N, H, W), got {images.shape}")
    low, high = input_range
    if (spec.height, spec.width) == (IMAGE_SIZE, IMAGE_SIZE) and images.shape[1:] == (IMAGE_SIZE, IMAGE_SIZE):
        x = to_model_input(images)
    else:
        import cv2

        shrink = spec.height * spec.width < images.shape[1] * images.shape[2]
        method = cv2.INTER_AREA if shrink else cv2.INTER_LINEAR
        resized = np.stack([cv2.resize(image, (spec.width, spec.height), interpolation=method) for image in images])
        x = min_max(resized)[..., None]
    if spec.channels == 3:
        x = np.repeat(x, 3, axis=-1)
    if (low, high) != (0.0, 1.0):
        x = x * (high - low) + low
    return x.astype(np.float32)


def random_inputs(tensor, count, seed=0):
    """``count`` deterministic float inputs for ``tensor`` (a ``tflite_graph.TensorInfo``): for a quantized input,
    random integers over its dtype's range, dequantized; for a float one, uniform in [0, 1)."""
    from lanmsff_edge.runtimes.quantization import random_integers

    shape = (count, *(int(d) for d in tensor.shape[1:]))
    if not tensor.quantized:
        return np.random.default_rng(seed).random(shape, dtype=np.float32)
    steps = random_integers(tensor.dtype, shape, seed).astype(np.int64)
    return ((steps - tensor.zero_point) * np.float32(tensor.scale)).astype(np.float32)


def parse_input_range(text):
    if text not in INPUT_RANGES:
        raise UserError(f"--input-range {text!r}: choose one of {', '.join(INPUT_RANGES)}")
    return INPUT_RANGES[text]


@dataclass
class BenchModel:
    """What every row needs to know about a model, whatever its format; ``runtime`` runs it (``runtimes.Runtime``).

    A ``keras`` model holds ``keras_model``; a ``tflite`` one its flatbuffer ``data`` and parsed ``graph``."""

    name: str
    path: str
    format: str
    precision: str
    size_bytes: int
    params: int
    macs: int
    spec: ImageSpec
    num_classes: int
    input_range: tuple = (0.0, 1.0)
    origin: str = "file"  # "file" | "converted" (made by the bench from a .keras)
    notes: list = field(default_factory=list)
    keras_model: object = None
    data: bytes = b""
    graph: object = None

    @property
    def is_keras(self):
        return self.format == "keras"

    @property
    def is_tensor_model(self):
        return self.spec is None

    def inputs(self, images):
        """The model's float inputs for ``images`` (uint8 faces); a tensor model's are ``len(images)`` seeded
        random inputs of its own shape instead, integer values of its input quantization (so quantizing them
        gives back those integers)."""
        if self.is_tensor_model:
            return random_inputs(self.graph.inputs[0], len(images))
        return prepare_images(images, self.spec, self.input_range)

    def runtime(self, num_threads=None):
        """This model in its runtime: Keras, or LiteRT (XNNPACK) with ``num_threads`` threads."""
        if self.is_keras:
            from lanmsff_edge.runtimes.keras import KerasRuntime

            return KerasRuntime(self.keras_model, source=self.path)
        from lanmsff_edge.runtimes.litert import LiteRTRuntime

        return LiteRTRuntime(self.data, num_threads=num_threads)


def _check_classifier_output(shape, source):
    shape = tuple(shape)
    if len(shape) != 2 or shape[-1] is None or int(shape[-1]) < 2:
        text = "×".join("?" if d is None else str(d) for d in shape)
        raise UserError(f"{source}: output of shape {text} is not a class-probability vector (expected N×K, K ≥ 2)")
    return int(shape[-1])


def open_keras(path, input_range=(0.0, 1.0)):
    from lanmsff_edge.model import load_model, model_summary

    model = load_model(path)
    if len(model.inputs) != 1 or len(model.outputs) != 1:
        raise UserError(f"{path}: the bench takes single-input, single-output classifiers "
                        f"({len(model.inputs)} inputs, {len(model.outputs)} outputs)")
    spec = image_spec(model.input_shape, path)
    classes = _check_classifier_output(model.output_shape, path)
    summary = model_summary(model)
    return BenchModel(name=Path(path).name, path=str(path), format="keras", precision=_keras_precision(model),
                           size_bytes=_size(path), params=summary["params"], macs=summary["macs"], spec=spec,
                           num_classes=classes, input_range=input_range, keras_model=model)


def _keras_precision(model):
    policy = getattr(getattr(model, "dtype_policy", None), "compute_dtype", None) or "float32"
    return "float16" if "16" in str(policy) else "float32"


def _size(path):
    path = Path(path)
    if path.is_dir():
        return sum(f.stat().st_size for f in path.rglob("*") if f.is_file())
    return path.stat().st_size


def tflite_model(data, path, name, input_range=(0.0, 1.0), origin="file"):
    """A tflite ``BenchModel`` from flatbuffer bytes (``path`` names it in messages)."""
    from lanmsff_edge.tflite_graph import read_tflite, tflite_params, tflite_precision

    graph = read_tflite(data, source=str(path))
    if len(graph.inputs) != 1 or len(graph.outputs) != 1:
        raise UserError(f"{path}: the bench takes single-input, single-output classifiers "
                        f"({len(graph.inputs)} inputs, {len(graph.outputs)} outputs)")
    tensor = graph.inputs[0]
    try:
        spec = image_spec(tensor.shape, path, tensor.shape_signature)
        classes = _check_classifier_output(graph.outputs[0].shape, path)
    except UserError:  # no image classifier: a tensor model, benched on random inputs of its own shape
        if any(int(d) < 1 for d in tensor.shape):
            raise UserError(f"{path}: input '{tensor.name}' has no fixed shape ({list(tensor.shape)})") from None
        spec, classes = None, None
    return BenchModel(name=name, path=str(path), format="tflite", precision=tflite_precision(graph),
                            size_bytes=len(data), params=tflite_params(graph), macs=graph.macs, spec=spec,
                            num_classes=classes, input_range=input_range, origin=origin, data=bytes(data),
                            graph=graph)


def open_model(path, input_range=(0.0, 1.0)):
    """A ``BenchModel`` for a ``.keras``/``.h5`` file, a training run folder, a SavedModel folder or a ``.tflite``
    file."""
    path = Path(path)
    if not path.exists():
        raise UserError(f"model file not found: {path}")
    if path.is_dir() and not (path / "saved_model.pb").exists():  # a training run: its model.keras or best so far
        from lanmsff_edge.artifacts.reference import resolve_model_path

        path = resolve_model_path(path)  # any other folder: says it is no training run, not SavedModel's words
    suffix = path.suffix.lower()
    if path.is_dir() or suffix in KERAS_SUFFIXES:
        return open_keras(path, input_range)
    if suffix in TFLITE_SUFFIXES:
        from lanmsff_edge import userfiles

        return tflite_model(userfiles.read_bytes(path, "model", what="model"), path, path.name, input_range)
    raise UserError(f"{path}: not a model file the bench knows (expected .keras, .h5 or .tflite)")


def open_models(paths, input_range=(0.0, 1.0)):
    """Open every path (``BenchModel``s pass through); duplicate file names get their parent folder prepended so
    rows stay distinguishable."""
    models = [path if isinstance(path, BenchModel) else open_model(path, input_range) for path in paths]
    names = [m.name for m in models]
    for model in models:
        if names.count(model.name) > 1:
            model.name = f"{Path(model.path).parent.name}/{model.name}"
    return models
