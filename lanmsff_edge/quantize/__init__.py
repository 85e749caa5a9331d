"""Quantization: QAT (tfmot) and post-training variants of LANMSFF, converted for LiteRT and TFLite Micro.

    from lanmsff_edge.quantize import quantize
    report = quantize("runs/ferplus/model.keras", "ferplus", "ferplus.tar.gz", method="all", out="q/lanmsff.tflite")

Pieces: ``qat`` (quantization-aware model and fine-tuning), ``rewrite`` (float-exact graph tweaks), ``convert``
(one flatbuffer per method), ``verify`` (integer-only, TFLite Micro), ``report`` (the comparison table),
``methods`` (the table of method names).
Names load lazily, so ``quantize.methods`` (the method table the CLI parses with) does not start TensorFlow.
"""
import importlib

# public name -> module that defines it
_EXPORTS = {"METHODS": "converter", "INTEGER_METHODS": "converter", "concrete_function": "converter",
            "convert": "converter", "METHOD_CHOICES": "pipeline", "quantize": "pipeline"}
_PRECISIONS = {"float32": "float", "int8": "ptq", "float16": "fp16"}


def convert_keras(model, precision="float32", calibration=None, io="int8"):
    """A float Keras LANMSFF → TFLite bytes at batch 1 (the quick path tools like ``bench`` take).

    precision: "float32", "float16", "int8" (full-integer PTQ calibrated on ``calibration``: float model inputs
    N×64×64×1) or a method name of ``METHODS`` other than qat. Graph rewrites as in ``quantize``.
    """
    from lanmsff_edge.calibration import representative_dataset
    from lanmsff_edge.quantize.converter import convert
    from lanmsff_edge.quantize.rewrite import relu_before_pool

    method = _PRECISIONS.get(precision, precision)
    if method == "qat":
        raise ValueError("qat needs fine-tuning: use lanmsff_edge.quantize.quantize")
    representative = None if calibration is None else representative_dataset(calibration)
    return convert(relu_before_pool(model), method, representative, io)


__all__ = ["METHODS", "INTEGER_METHODS", "METHOD_CHOICES", "quantize", "convert", "convert_keras",
           "concrete_function"]


def __getattr__(name):
    if name in _EXPORTS:
        return getattr(importlib.import_module(f"lanmsff_edge.quantize.{_EXPORTS[name]}"), name)
    raise AttributeError(f"module 'lanmsff_edge.quantize' has no attribute {name!r}")
