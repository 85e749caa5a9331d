"""Keras → TFLite flatbuffer for each quantization method, from a batch-1 static-shape concrete function.

Converting ``model(x, training=False)`` traced on ``TensorSpec([1, 64, 64, 1])`` gives every layer a static
shape, so the graph carries no SHAPE / PACK / REDUCE_PROD / STRIDED_SLICE ops and the dilated convolutions
fold into CONV_2D's dilation instead of SPACE_TO_BATCH_ND / BATCH_TO_SPACE_ND: only ops TFLite Micro runs.
"""
import warnings

from lanmsff_edge.errors import UserError
from lanmsff_edge.keras import quiet_native_stderr, tf

METHODS = ("qat", "ptq", "fp16", "dynamic", "float")
INTEGER_METHODS = ("qat", "ptq")
IO_TYPES = ("int8", "float")


class ConversionError(UserError):
    """The TFLite converter refused the model."""


def concrete_function(model, batch=1):
    """``model(x, training=False)`` traced for a static ``batch``×H×W×C float32 input named ``image``."""
    spec = tf.TensorSpec((batch,) + tuple(model.input_shape[1:]), tf.float32, name="image")
    return tf.function(lambda image: model(image, training=False)).get_concrete_function(spec)


def make_converter(model, method, representative=None, io="int8"):
    """A configured ``TFLiteConverter`` for ``method``; ``model`` is the float model (or the QAT model for qat).

    ptq needs ``representative`` (a zero-argument callable yielding ``[x]``, see ``calibration``); qat may take
    one too: the converter keeps the trained ranges and calibrates only tensors left without one.
    """
    if method not in METHODS:
        raise UserError(f"unknown quantization method {method!r}: choose one of {', '.join(METHODS)}")
    if io not in IO_TYPES:
        raise UserError(f"unknown I/O type {io!r}: choose one of {', '.join(IO_TYPES)}")
    converter = tf.lite.TFLiteConverter.from_concrete_functions([concrete_function(model)], model)
    if method == "fp16":
        converter.optimizations = [tf.lite.Optimize.DEFAULT]
        converter.target_spec.supported_types = [tf.float16]
    elif method == "dynamic":
        converter.optimizations = [tf.lite.Optimize.DEFAULT]
    elif method in INTEGER_METHODS:
        if method == "ptq" and representative is None:
            raise ValueError("ptq needs representative data")
        converter.optimizations = [tf.lite.Optimize.DEFAULT]
        if method == "ptq":
            # (for qat the converter validates this flag before it sees the fake-quant ops, and refuses)
            converter.target_spec.supported_ops = [tf.lite.OpsSet.TFLITE_BUILTINS_INT8]
        if representative is not None:
            converter.representative_dataset = representative
        if io == "int8":
            converter.inference_input_type = tf.int8
            converter.inference_output_type = tf.int8
    return converter


def convert(model, method, representative=None, io="int8"):
    """The ``.tflite`` flatbuffer (bytes) of ``model`` for ``method`` (see ``make_converter``)."""
    converter = make_converter(model, method, representative, io)
    try:
        with warnings.catch_warnings(), quiet_native_stderr():
            # "Statistics for quantized inputs were expected": the QAT input range is in the graph already
            warnings.simplefilter("ignore", UserWarning)
            return bytes(converter.convert())
    except Exception as error:  # the converter raises ConverterError / ValueError / RuntimeError
        lines = [line.strip() for line in str(error).splitlines() if line.strip()]
        detail = next((line for line in lines if "error" in line.lower()), lines[0] if lines else type(error).__name__)
        raise ConversionError(f"TFLite conversion ({method}) failed: {detail}") from None
