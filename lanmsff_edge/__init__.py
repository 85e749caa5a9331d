"""lanmsff-edge: the LANMSFF facial-expression network, from Keras training to int8 edge deployment.

The package builds every model with Keras 2 (``tf_keras``), which quantization-aware training needs.
``TF_USE_LEGACY_KERAS=1`` is set here, before anything imports TensorFlow, so users never have to; this is the one
place the package sets TensorFlow's environment.
Heavy modules load lazily: ``import lanmsff_edge`` stays fast and the CLI's ``--help`` does not start TensorFlow.
TensorFlow is the optional ``[train]`` extra: without it the deployment side still runs (``extras``).
"""
import importlib
import os

os.environ.setdefault("TF_USE_LEGACY_KERAS", "1")
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

__version__ = "0.1.0"

# public name -> module that defines it
_EXPORTS = {
    "build_model": "lanmsff_edge.model",
    "model_summary": "lanmsff_edge.model",
    "load_dataset": "lanmsff_edge.data",
    "train": "lanmsff_edge.training",
    "evaluate": "lanmsff_edge.evaluation",
    "UserError": "lanmsff_edge.errors",
}

__all__ = sorted(_EXPORTS) + ["__version__"]


def __getattr__(name):
    if name in _EXPORTS:
        return getattr(importlib.import_module(_EXPORTS[name]), name)
    raise AttributeError(f"module 'lanmsff_edge' has no attribute {name!r}")
