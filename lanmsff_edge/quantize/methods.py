"""The quantization methods, one table: name → whether it is full-integer, and its help line.

``quantize --method``'s choices, default and help, ``converter.METHODS`` / ``INTEGER_METHODS`` and the
pipeline's ``METHOD_CHOICES`` all read ``METHODS``. No TensorFlow here: the CLI reads it while parsing.
"""
from dataclasses import dataclass

IO_TYPES = ("int8", "float")  # the converted model's input/output type (--io)


@dataclass(frozen=True)
class Method:
    integer: bool  # full-integer int8: calibrated, checked integer-only, must run in TFLite Micro
    help: str


METHODS = {
    "qat": Method(True, "quantization-aware fine-tuning, then full-integer int8 (per-channel weights, int8 "
                        "activations)"),
    "ptq": Method(True, "full-integer int8 post-training quantization, calibrated on a class-balanced train sample"),
    "fp16": Method(False, "float16 weights"),
    "dynamic": Method(False, "int8 weights, float activations"),
    "float": Method(False, "float32"),
}
ALL = "all"  # every method above, into one comparison table
ALL_HELP = ("every variant: OUT holds the qat model, the others go beside it as <stem>_<method>.tflite,\n"
            "           with one comparison table (OUT.md) and OUT.json")
DEFAULT = "qat"

NAMES = tuple(METHODS)
INTEGER = tuple(name for name, method in METHODS.items() if method.integer)
CHOICES = (*NAMES, ALL)


def help_lines():
    """One ``  name     help`` line per method (and ``all``), for a click help kept as written (``\\b``)."""
    rows = [(name, method.help) for name, method in METHODS.items()] + [(ALL, ALL_HELP)]
    return "\n".join(f"  {name:<8} {text}" for name, text in rows)
