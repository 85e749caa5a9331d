"""Saving and loading LANMSFF models (``.keras``) with the custom layers registered."""
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
    """Load a ``.keras`` / ``.h5`` / SavedModel file; a missing or unreadable file is a ``UserError``."""
    path = Path(path)
    if not path.exists():
        raise UserError(f"model file not found: {path}")
    try:
        return keras.models.load_model(path, custom_objects=CUSTOM_OBJECTS, compile=compile)
    except Exception as error:  # Keras raises many types for a bad file; the user needs one line
        first_line = str(error).strip().splitlines()[0] if str(error).strip() else type(error).__name__
        raise UserError(f"cannot load model {path}: {first_line}") from None
