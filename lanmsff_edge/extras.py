"""The optional ``[train]`` extra: TensorFlow, tf-keras and tensorflow-model-optimization.

A plain ``pip install lanmsff-edge`` is the deployment side (predict, bench and info of .tflite files,
export-firmware, evaluate of an int8 model): LiteRT and TFLite Micro run the models, TensorFlow is not installed.
Training, conversion and anything that loads a .keras model import TensorFlow through ``import_training_module``,
which turns its absence into one line naming the extra (``TensorFlowMissing``).
"""
import importlib
import importlib.util

from lanmsff_edge.errors import UserError

MODULES = ("tensorflow", "tf_keras", "tensorflow_model_optimization")
INSTALL = "pip install 'lanmsff-edge[train]'"


class TensorFlowMissing(UserError, ImportError):
    """A command that needs the ``[train]`` extra, run without it. An ``ImportError`` too, so code that falls back
    when a module is absent (``runtimes.litert.interpreter_class``) still does."""


def import_training_module(name):
    """``importlib.import_module(name)`` for one of ``MODULES``; ``TensorFlowMissing`` when it (or one of the
    other ``MODULES`` it imports) is not installed. Other import errors (a broken install) pass up unchanged."""
    try:
        return importlib.import_module(name)
    except ModuleNotFoundError as error:
        missing = (error.name or "").split(".")[0]
        if missing not in MODULES:
            raise
        raise TensorFlowMissing(f"this command needs TensorFlow: {INSTALL} ({missing} is not installed)") from None


def training_installed():
    """Whether the ``[train]`` extra's modules are installed, without importing them (TensorFlow takes seconds)."""
    try:
        return all(importlib.util.find_spec(name) is not None for name in MODULES)
    except (ImportError, ValueError):
        return False
