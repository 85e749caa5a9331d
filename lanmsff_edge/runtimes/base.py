"""The one runtime protocol: a model loaded in some runtime that maps prepared model inputs to class
probabilities. Keras (``keras.KerasRuntime``), LiteRT with XNNPACK, the builtin or the reference kernels or the
Edge TPU delegate (``litert.LiteRTRuntime``) and TFLite Micro (``micro.MicroRuntime``) implement it; evaluation,
quantize, bench, predict and the demo only ever hold a ``Runtime``.
"""
from collections.abc import Callable
from dataclasses import dataclass
from typing import Protocol, runtime_checkable

import numpy as np

from lanmsff_edge.errors import UserError

PREDICT_CHUNK = 1024  # faces converted to float at once: bounds memory on big splits


@runtime_checkable
class Runtime(Protocol):
    """``predict``: float model inputs (N×H×W×C; LANMSFF: N×64×64×1 in [0, 1]) → float32 N×C outputs.

    ``source`` names the model in messages, ``backend`` the runtime that runs it, ``params`` is the parameter count
    used for the information density (None when the runtime cannot tell)."""

    source: str
    backend: str
    num_classes: int
    params: int | None

    def predict(self, x): ...


@dataclass
class FunctionRuntime:
    """A ``Runtime`` around a plain function (a stand-in model in tests, a remote runtime)."""

    function: Callable[[np.ndarray], np.ndarray]
    num_classes: int
    params: int | None = None
    source: str = "model"
    backend: str = "python"

    def predict(self, x):
        return np.asarray(self.function(x), dtype=np.float32)


def predict_faces(runtime, images):
    """uint8 faces (N, 64, 64) → (N, C) probabilities of ``runtime``, converted to model inputs in bounded chunks."""
    from lanmsff_edge.data.common import to_model_input

    outputs = [np.asarray(runtime.predict(to_model_input(images[start:start + PREDICT_CHUNK])), np.float32)
               for start in range(0, len(images), PREDICT_CHUNK)]
    probabilities = np.concatenate(outputs) if outputs else np.zeros((0, runtime.num_classes), np.float32)
    check_finite_outputs(probabilities, runtime.source)
    return probabilities


def check_finite_outputs(outputs, source):
    """``UserError`` when a model's outputs hold NaN or infinity: no accuracy or label can be read from them."""
    bad = ~np.isfinite(outputs)
    if bad.any():
        rows = np.flatnonzero(bad.any(axis=tuple(range(1, bad.ndim))))
        raise UserError(f"{source} gives NaN or infinite outputs for {len(rows):,} of {len(outputs):,} face(s) (the "
                        f"first: face {rows[0] + 1}); its weights or quantization parameters are probably broken")


def is_face_model(input_shapes, output_shapes):
    """True when a model takes one N×64×64×1 face and gives one N×C vector (C ≥ 2): what the face preprocessing and
    the expression hooks apply to. Shapes are tuples; None or -1 stands for the batch."""
    from lanmsff_edge.data.common import IMAGE_SIZE

    return (len(input_shapes) == 1 and tuple(input_shapes[0])[1:] == (IMAGE_SIZE, IMAGE_SIZE, 1)
            and len(output_shapes) == 1 and len(output_shapes[0]) == 2 and (output_shapes[0][1] or 0) >= 2)


def check_face_model(input_shapes, output_shapes, source):
    """``UserError`` unless a model takes one N×64×64×1 face and gives one N×C probability vector (C ≥ 2): what
    every command that feeds it faces needs, checked before it runs (instead of a shape error from inside Keras or
    LiteRT). Shapes are tuples; None or -1 stands for the batch."""
    from lanmsff_edge.data.common import IMAGE_SIZE

    def text(shape):
        return "×".join("N" if d is None or int(d) < 0 else str(d) for d in shape)

    inputs = " and ".join(text(shape) for shape in input_shapes)
    outputs = " and ".join(text(shape) for shape in output_shapes)
    if not is_face_model(input_shapes, output_shapes):
        raise UserError(f"{source} takes {inputs} and gives {outputs}: this command needs a face classifier that "
                        f"takes N×{IMAGE_SIZE}×{IMAGE_SIZE}×1 gray faces and gives N×classes probabilities")
