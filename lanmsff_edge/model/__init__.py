"""The LANMSFF network: builder, custom layers, model files, cost summary.

The names below are loaded on first use (PEP 562), so a TF-free module of this package (``options``: the
vocabularies the CLI offers) imports without TensorFlow.
"""
import importlib

_EXPORTS = {
    "load_model": "io", "save_model": "io",
    "block_widths": "lanmsff", "build_from_options": "lanmsff", "build_model": "lanmsff",
    "CUSTOM_OBJECTS": "layers",
    "model_summary": "summary",
}

__all__ = ["build_model", "build_from_options", "block_widths", "load_model", "save_model", "model_summary",
           "CUSTOM_OBJECTS"]


def __getattr__(name):
    if name not in _EXPORTS:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    value = getattr(importlib.import_module(f"{__name__}.{_EXPORTS[name]}"), name)
    globals()[name] = value
    return value


def __dir__():
    return sorted(set(globals()) | set(__all__))
