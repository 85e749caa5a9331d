"""Anything that maps faces to class probabilities, as one ``Predictor`` type: Keras models here, LiteRT and
TFLite Micro in ``lanmsff_edge.runtimes``."""
from dataclasses import dataclass
from typing import Callable

import numpy as np

from lanmsff_edge.errors import UserError
from lanmsff_edge.evaluation.run_folders import resolve_model_path

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


def keras_predictor(model, batch_size=64, name=None):
    """A ``Predictor`` around a Keras model; inputs go through ``to_model_input`` in bounded chunks."""
    from lanmsff_edge.data.common import to_model_input

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
        try:
            from lanmsff_edge.runtimes.litert import load_predictor as litert_predictor
        except ImportError:
            raise UserError(f"cannot evaluate {path}: the LiteRT runtime (lanmsff_edge.runtimes.litert) "
                            "is not available in this installation") from None
        return litert_predictor(path)
    from lanmsff_edge.model import load_model

    return keras_predictor(load_model(path), batch_size, name=str(path))
