"""Saving and loading LANMSFF models (``.keras``) with the custom layers registered."""
import os
from pathlib import Path

from lanmsff_edge.atomic import atomic_path
from lanmsff_edge.errors import UserError
from lanmsff_edge.keras import keras
from lanmsff_edge.model.layers import CUSTOM_OBJECTS


def save_model(model, path, include_optimizer=True):
    """Save atomically to ``path`` (``.keras``): an interrupted save leaves the previous file intact."""
    if not include_optimizer and getattr(model, "optimizer", None) is not None:
        model = keras.Model(model.inputs, model.outputs, name=model.name)  # same layers, no optimizer state
    with atomic_path(path) as temporary:
        model.save(temporary)


def load_model(path, compile=False):
    """Load a ``.keras`` / ``.h5`` / SavedModel file; a missing or unreadable file, or one with NaN or infinite
    weights, is a ``UserError``."""
    from lanmsff_edge import native, userfiles

    path = Path(path)
    if not path.exists():
        raise UserError(f"model file not found: {path}")
    userfiles.check_input(path, "model")
    if path.is_file():
        from lanmsff_edge import atomic

        atomic.settle(path.parent)  # a half-committed group (model and report) is finished first
        with userfiles.open_binary(path, "model") as handle:  # refuses what is no regular file
            if os.fstat(handle.fileno()).st_size > userfiles.LIMITS["model"]:
                raise UserError(f"model {path} is larger than {userfiles.LIMITS['model'] >> 20:,} MB")
    try:
        with native.phase(f"loading the Keras model {path}"):
            model = keras.models.load_model(path, custom_objects=CUSTOM_OBJECTS, compile=compile)
    except Exception as error:  # Keras raises many types for a bad file; the user needs one line
        text = str(error).strip()
        if "safe_mode" in text:  # Keras's advice to load code from the file: not something this tool does
            first_line = "it holds Python code (a Lambda layer or similar), which is not loaded"
        else:
            first_line = text.splitlines()[0] if text else type(error).__name__
        raise UserError(f"cannot load model {path}: {first_line}") from None
    check_finite_weights(model, path)  # NaN weights give garbage (ReLU turns NaN into 0: finite, wrong outputs)
    return model


def check_finite_weights(model, source):
    """``UserError`` naming the first layer whose weights hold NaN or infinity (such a model converts to garbage,
    or crashes the TFLite converter)."""
    import numpy as np

    for layer in model.layers:
        for weight in layer.weights:
            values = np.asarray(weight.numpy())
            if values.dtype.kind == "f" and not np.isfinite(values).all():
                bad = int((~np.isfinite(values)).sum())
                raise UserError(f"{source}: layer '{layer.name}' has {bad:,} NaN or infinite weight value(s) in "
                                f"'{weight.name}'; the model is broken (a diverged training run?) and cannot be used")
