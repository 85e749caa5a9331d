"""The one place that touches private TensorFlow / tfmot / TFLite API: each use is named in ``PRIVATE``.

Such names move between releases without notice. Everything else imports them through the functions here, and
``tests/test_tf_private.py`` resolves every entry of ``PRIVATE`` and checks the behaviour the code relies on, so a
release that moves one fails that test with the entry's name instead of failing deep inside a conversion.
Imports are lazy: the converter's helpers do not pull in tfmot, nor the tfmot helpers the converter.
"""
import contextlib
import importlib

from lanmsff_edge.errors import UserError
from lanmsff_edge.extras import import_training_module

_TFMOT = "tensorflow_model_optimization.python.core"
# name → (module, attribute): the private things used, and why
PRIVATE = {
    # tfmot's own training/inference switch for quantizers called inside a layer (QuantizedPWFS)
    "smart_cond": (f"{_TFMOT}.keras.utils", "smart_cond"),
    # the fake-quant op every MovingAverageQuantizer calls, looked up on the module at call time (calibrate_ranges)
    "quant_ops": (f"{_TFMOT}.quantization.keras", "quant_ops"),
    # the default 8-bit scheme's configs for "no quantization" and "output only" (LANMSFF's own layers)
    "NoOpQuantizeConfig": (f"{_TFMOT}.quantization.keras.default_8bit.default_8bit_quantize_configs",
                           "NoOpQuantizeConfig"),
    "Default8BitOutputQuantizeConfig": (f"{_TFMOT}.quantization.keras.default_8bit.default_8bit_quantize_configs",
                                        "Default8BitOutputQuantizeConfig"),
    # the layer that quantizes the model input (set_input_range pins its range)
    "QuantizeLayer": (f"{_TFMOT}.quantization.keras.quantize_layer", "QuantizeLayer"),
    # TFLite's second PTQ step (quantize a calibrated flatbuffer), as its QuantizationDebugger runs it
    "mlir_quantize": ("tensorflow.lite.python.convert", "mlir_quantize"),
    # read / write a .tflite as Python objects (widening calibrated ranges)
    "flatbuffer_utils": ("tensorflow.lite.tools", "flatbuffer_utils"),
}
# attributes of public objects: TFLiteConverter's calibrate-only switch, the interpreter's per-op listing
CALIBRATE_ONLY = "_experimental_calibrate_only"
OPS_DETAILS = "_get_ops_details"


class PrivateAPIMoved(UserError):
    """A private TF/tfmot name this package relies on is gone: the installed release differs from the tested one."""


def _moved(what, error):
    return PrivateAPIMoved(f"{what} is not where lanmsff_edge expects it in the installed TensorFlow / "
                           f"tensorflow-model-optimization ({type(error).__name__}: {error}); "
                           "update lanmsff_edge/tf_private.py or install the versions pyproject.toml pins")


def private(name):
    """The object ``PRIVATE[name]`` names; ``PrivateAPIMoved`` when the installed release lacks it."""
    module, attribute = PRIVATE[name]
    import lanmsff_edge.keras  # noqa: F401  (selects Keras 2 before tfmot is imported; TensorFlowMissing without it)

    if module.startswith("tensorflow_model_optimization"):
        import_training_module("tensorflow_model_optimization")  # absent: the [train] extra, not a moved name
    try:
        return getattr(importlib.import_module(module), attribute)
    except (ImportError, AttributeError) as error:
        raise _moved(f"{module}.{attribute}", error) from None


def smart_cond(pred, true_fn, false_fn):
    return private("smart_cond")(pred, true_fn, false_fn)


def quantize_layer_class():
    return private("QuantizeLayer")


def noop_quantize_config():
    return private("NoOpQuantizeConfig")()


def output_quantize_config():
    return private("Default8BitOutputQuantizeConfig")()


def quantize_config_classes():
    """The private config classes by name, for ``quantize_scope`` (a QAT model's config names them)."""
    return {name: private(name) for name in ("NoOpQuantizeConfig", "Default8BitOutputQuantizeConfig")}


@contextlib.contextmanager
def moving_average_quantize(replacement):
    """Within the block, tfmot's moving-average fake-quant op is ``replacement(original)``'s result; the
    original is put back on leaving, whatever happens (no ``mock.patch`` in library code)."""
    quant_ops = private("quant_ops")
    original = getattr(quant_ops, "MovingAvgQuantize", None)
    if original is None:
        raise _moved("quant_ops.MovingAvgQuantize", AttributeError("no MovingAvgQuantize"))
    quant_ops.MovingAvgQuantize = replacement(original)
    try:
        yield original
    finally:
        quant_ops.MovingAvgQuantize = original


def calibrate_only(converter):
    """Make ``converter.convert()`` return the calibrated float flatbuffer (min/max per tensor), not int8.

    Checked before it is set: assigning a renamed attribute would silently convert all the way to int8."""
    if not hasattr(converter, CALIBRATE_ONLY):
        raise _moved(f"TFLiteConverter.{CALIBRATE_ONLY}", AttributeError(f"no attribute {CALIBRATE_ONLY}"))
    setattr(converter, CALIBRATE_ONLY, True)


def mlir_quantize(calibrated, **options):
    return private("mlir_quantize")(calibrated, **options)


def ops_details(interpreter):
    """The interpreter's list of ops after delegation (``op_name`` "DELEGATE" where a delegate took one), or
    None when this interpreter build has no such listing."""
    method = getattr(interpreter, OPS_DETAILS, None)
    return None if method is None else method()
