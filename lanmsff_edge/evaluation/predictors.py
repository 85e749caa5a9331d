"""Anything that maps faces to class probabilities, as one ``Predictor`` type: Keras models here, LiteRT and
TFLite Micro in ``lanmsff_edge.runtimes``."""
from dataclasses import dataclass
from typing import Callable

import numpy as np

from lanmsff_edge.errors import UserError
from lanmsff_edge.artifacts.reference import resolve_model_path

PREDICT_CHUNK = 1024  # images converted to float at once: bounds memory on big splits


@dataclass
class Predictor:
    """Anything that classifies faces: uint8 (N, 64, 64) images → (N, C) probabilities.

    ``params`` is the parameter count used for ID (None when the runtime cannot tell). Runtimes other than
    Keras (LiteRT, TFLite Micro) build one of these and pass it to ``evaluate``.
    """

    predict: Callable[[np.ndarray], np.ndarray]
    num_classes: int
    params: int | None = None
    name: str = "model"


def check_face_model(input_shapes, output_shapes, source):
    """``UserError`` unless a model takes one N×64×64×1 face and gives one N×C probability vector (C ≥ 2): what
    every command that feeds it faces needs, checked before it runs (instead of a shape error from inside Keras or
    LiteRT). Shapes are tuples; None or -1 stands for the batch."""
    from lanmsff_edge.data.common import IMAGE_SIZE

    def text(shape):
        return "×".join("N" if d is None or int(d) < 0 else str(d) for d in shape)

    inputs = " and ".join(text(shape) for shape in input_shapes)
    outputs = " and ".join(text(shape) for shape in output_shapes)
    fits = (len(input_shapes) == 1 and tuple(input_shapes[0])[1:] == (IMAGE_SIZE, IMAGE_SIZE, 1)
            and len(output_shapes) == 1 and len(output_shapes[0]) == 2 and (output_shapes[0][1] or 0) >= 2)
    if not fits:
        raise UserError(f"{source} takes {inputs} and gives {outputs}: this command needs a face classifier that "
                        f"takes N×{IMAGE_SIZE}×{IMAGE_SIZE}×1 gray faces and gives N×classes probabilities")


def keras_predictor(model, batch_size=64, name=None):
    """A ``Predictor`` around a Keras model; inputs go through ``to_model_input`` in bounded chunks."""
    from lanmsff_edge.data.common import to_model_input

    check_face_model([tuple(t.shape) for t in model.inputs], [tuple(t.shape) for t in model.outputs],
                     name or model.name)

    def predict(images):
        outputs = []
        for start in range(0, len(images), PREDICT_CHUNK):
            batch = to_model_input(images[start:start + PREDICT_CHUNK])
            outputs.append(model.predict(batch, batch_size=batch_size, verbose=0))
        return np.concatenate(outputs) if outputs else np.zeros((0, model.output_shape[-1]), np.float32)

    return Predictor(predict, int(model.output_shape[-1]), int(model.count_params()), name or model.name)


def load_predictor(model, batch_size=64):
    """A ``Predictor`` from a Keras model, a ``Predictor``, a ``.keras`` file / run folder, or a ``.tflite`` file.

    ``.tflite`` files are delegated to ``lanmsff_edge.runtimes.litert.load_predictor`` (the LiteRT runtime).
    """
    if isinstance(model, Predictor):
        return model
    if hasattr(model, "predict") and hasattr(model, "output_shape"):
        return keras_predictor(model, batch_size)
    path = resolve_model_path(model)
    if path.suffix == ".tflite":
        from lanmsff_edge.tflite_graph import read_tflite

        graph = read_tflite(path.read_bytes(), source=str(path))
        check_face_model([t.shape for t in graph.inputs], [t.shape for t in graph.outputs], path)
        try:
            from lanmsff_edge.runtimes.litert import load_predictor as litert_predictor
        except ImportError:
            raise UserError(f"cannot evaluate {path}: the LiteRT runtime (lanmsff_edge.runtimes.litert) "
                            "is not available in this installation") from None
        return litert_predictor(path)
    from lanmsff_edge.model import load_model

    return keras_predictor(load_model(path), batch_size, name=str(path))
