"""Keras → TFLite flatbuffer for each quantization method, from a batch-1 static-shape concrete function.

Converting ``model(x, training=False)`` traced on ``TensorSpec([1, 64, 64, 1])`` gives every layer a static
shape, so the graph carries no SHAPE / PACK / REDUCE_PROD / STRIDED_SLICE ops and the dilated convolutions
fold into CONV_2D's dilation instead of SPACE_TO_BATCH_ND / BATCH_TO_SPACE_ND: only ops TFLite Micro runs.
"""
import warnings

import numpy as np

from lanmsff_edge.errors import UserError
from lanmsff_edge.keras import quiet_native_stderr, tf
from lanmsff_edge.quantize import methods
from lanmsff_edge.quantize.methods import IO_TYPES

METHODS = methods.NAMES
INTEGER_METHODS = methods.INTEGER
# Narrowest activation range int8 conversion gets. A tensor that is 0 on every calibration image (a dead ReLU
# path: block 4's MassAtt spatial path of a FERPlus-trained LANMSFF is one) calibrates to [0, 0]; the converter
# then gives it a scale of ~1e-8, the int32 biases after it overflow, and XNNPACK refuses the model.
MIN_RANGE = 1e-2


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


def widen_ranges(calibrated, min_range=MIN_RANGE):
    """A calibrated float flatbuffer (min/max per tensor) with every range narrower than ``min_range`` widened
    to it. Returns ``(flatbuffer, names of the widened tensors)``."""
    from lanmsff_edge.tf_private import private

    flatbuffer_utils = private("flatbuffer_utils")
    model = flatbuffer_utils.convert_bytearray_to_object(calibrated)
    widened = []
    for subgraph in model.subgraphs:
        for tensor in subgraph.tensors:
            stats = tensor.quantization
            if stats is None or stats.min is None or not len(stats.min):
                continue
            low, high = np.asarray(stats.min, np.float32), np.asarray(stats.max, np.float32)
            if np.any(high - low < min_range):
                stats.max = np.maximum(high, low + min_range).tolist()
                widened.append(tensor.name.decode() if isinstance(tensor.name, bytes) else str(tensor.name))
    return bytes(flatbuffer_utils.convert_object_to_bytearray(model)), widened


def _post_training_integer(converter, io, info):
    """TFLite's full-integer PTQ in its two steps (calibrate, quantize), with ``widen_ranges`` in between."""
    from lanmsff_edge import tf_private

    tf_private.calibrate_only(converter)  # the path TFLite's own QuantizationDebugger takes
    calibrated, info["widened_ranges"] = widen_ranges(converter.convert())
    io_type = tf.int8 if io == "int8" else tf.float32
    return tf_private.mlir_quantize(calibrated, disable_per_channel=False, input_data_type=io_type,
                                    output_data_type=io_type)


def convert(model, method, representative=None, io="int8", info=None):
    """The ``.tflite`` flatbuffer (bytes) of ``model`` for ``method`` (see ``make_converter``).

    ``info``: a dict that receives notes on the conversion (ptq: ``widened_ranges``, the tensors whose calibrated
    range was narrower than ``MIN_RANGE``).
    """
    info = {} if info is None else info
    converter = make_converter(model, method, representative, io)
    from lanmsff_edge import native

    try:
        with warnings.catch_warnings(), quiet_native_stderr(), native.phase(f"converting to TFLite ({method})"):
            # "Statistics for quantized inputs were expected": the QAT input range is in the graph already
            warnings.simplefilter("ignore", UserWarning)
            if method == "ptq":
                return bytes(_post_training_integer(converter, io, info))
            return bytes(converter.convert())
    except Exception as error:  # the converter raises ConverterError / ValueError / RuntimeError
        lines = [line.strip() for line in str(error).splitlines() if line.strip()]
        detail = next((line for line in lines if "error" in line.lower()), lines[0] if lines else type(error).__name__)
        raise ConversionError(f"TFLite conversion ({method}) failed: {detail}") from None
