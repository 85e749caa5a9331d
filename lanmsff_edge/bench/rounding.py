"""Why two kernel libraries give an int8 convolution different outputs: its exact value, element by element.

For CONV_2D, DEPTHWISE_CONV_2D and FULLY_CONNECTED the int32 accumulator is recomputed exactly (NumPy int64)
from the op's int8 inputs, weights and bias; ``acc × s_in·s_w/s_out`` is the value both libraries must round to
an output step. Where their outputs differ, each element is put in one class:

- ``tie``: the exact value is a half step, and the two libraries break ties differently (XNNPACK rounds half to
  even; TFLite's reference kernels and TFLite Micro's half away from zero);
- ``<name>_off``: that library's output is not the correctly rounded exact value (the other one's is);
  ``<name>_off_double_rounding`` counts those of them in the window of gemmlowp-style double rounding: TFLite's
  reference ``MultiplyByQuantizedMultiplier`` first rounds ``acc·M`` to 1/2^r of a step (r = the multiplier's
  right shift), then to a step, so values in [k + ½ − 2^−(r+1), k + ½) come out one step high;
- ``both_off``: neither is.

``single_rounding_differs_from_<name>`` counts the output elements where the requantization TFLite Micro and LiteRT
use when built with ``TFLITE_SINGLE_ROUNDING=1`` (one rounding, half up; CMSIS-NN's ``CMSIS_NN_USE_SINGLE_ROUNDING``
is the same formula) would give another value than that library did: what such a build would change (the
``tflm-single`` parity backend is that build).

Each library's requantization is also replayed and checked against what it returned (``<name>_replica_match``,
elements): XNNPACK's fp32 requantization (``float(acc) × float(s_in·s_w/s_out)``, rounded half to even); TFLite
Micro's and LiteRT's reference CONV_2D / DEPTHWISE_CONV_2D: ``QuantizeMultiplier`` + ``MultiplyByQuantizedMultiplier``
(double rounding); LiteRT's reference FULLY_CONNECTED rounds once, half away from zero (measured with ai-edge-litert
2.3: it matches that on every element, and TFLite Micro's FULLY_CONNECTED matches the double rounding).
"""
from collections import Counter

import numpy as np
from ai_edge_litert import schema_py_generated as schema

ANALYSED_OPS = ("CONV_2D", "DEPTHWISE_CONV_2D", "FULLY_CONNECTED")
_SAME = schema.Padding.SAME
_RELU, _RELU6 = schema.ActivationFunctionType.RELU, schema.ActivationFunctionType.RELU6


def quantize_multiplier(real):
    """TFLite's ``QuantizeMultiplier``: real multiplier → (Q31 significand, shift), per element."""
    real = np.atleast_1d(np.asarray(real, np.float64))
    fraction, shift = np.frexp(real)
    significand = np.floor(np.abs(fraction) * 2.0 ** 31 + 0.5).astype(np.int64) * np.sign(fraction).astype(np.int64)
    overflow = significand == 2 ** 31
    significand = np.where(overflow, significand // 2, significand)
    shift = np.where(overflow, shift + 1, shift).astype(np.int64)
    tiny = shift < -31
    return np.where(tiny, 0, significand), np.where(tiny, 0, shift)


def multiply_by_quantized_multiplier(acc, significand, shift):
    """TFLite's reference ``MultiplyByQuantizedMultiplier`` (double rounding: ``SaturatingRoundingDoublingHighMul``
    then ``RoundingDivideByPOT``), in int64; ``significand``/``shift`` broadcast against ``acc``."""
    acc = np.asarray(acc, np.int64)
    left = np.maximum(shift, 0)
    right = np.maximum(-shift, 0)
    product = (acc << left) * significand
    nudged = product + np.where(product >= 0, 1 << 30, 1 - (1 << 30))
    high = np.where(nudged >= 0, nudged >> 31, -((-nudged) >> 31))  # C++ division truncates toward zero
    mask = (np.int64(1) << right) - 1
    threshold = (mask >> 1) + (high < 0)
    return (high >> right) + ((high & mask) > threshold)


def _padded(x, out_size, kernel, stride, dilation, same):
    """x (H, W, C) int64 with the zero-point already removed, padded as TFLite pads for SAME."""
    if not same:
        return x
    pads = []
    for axis in (0, 1):
        total = max((out_size[axis] - 1) * stride[axis] + (kernel[axis] - 1) * dilation[axis] + 1 - x.shape[axis], 0)
        pads.append((total // 2, total - total // 2))
    return np.pad(x, (*pads, (0, 0)))


def _conv_accumulator(x, weights, options, out_shape, depthwise):
    """int64 accumulators (OH, OW, O) of a batch-1 NHWC convolution, bias not added."""
    _, oh, ow, channels = out_shape
    kh, kw = weights.shape[1], weights.shape[2]
    stride, dilation = (options.strideH, options.strideW), (options.dilationHFactor, options.dilationWFactor)
    xp = _padded(x[0], (oh, ow), (kh, kw), stride, dilation, options.padding == _SAME)
    acc = np.zeros((oh, ow, channels), np.int64)
    for ky in range(kh):
        for kx in range(kw):
            y0, x0 = ky * dilation[0], kx * dilation[1]
            patch = xp[y0:y0 + (oh - 1) * stride[0] + 1:stride[0], x0:x0 + (ow - 1) * stride[1] + 1:stride[1]]
            if depthwise:
                multiplier = channels // patch.shape[-1]
                acc += np.repeat(patch, multiplier, axis=-1) * weights[0, ky, kx]
            else:
                acc += patch @ weights[:, ky, kx, :].T
    return acc


def _clamp_bounds(activation, zero_point, scale, dtype):
    info = np.iinfo(dtype)
    low, high = info.min, info.max
    if activation in (_RELU, _RELU6):
        low = max(low, zero_point)
    if activation == _RELU6:
        high = min(high, zero_point + int(round(6.0 / scale)))
    return low, high


class RoundingAnalysis:
    """Classifies the elements where two libraries' outputs of one op differ (see the module docstring).

    ``data``: the model's flatbuffer; ``graph``: its ``TFLiteGraph``; ``a``/``b``: the two kernel sets' names
    (``"xnnpack"``, ``"reference"``, ``"builtin"``), used to name the classes and pick the replicas to check.
    """

    def __init__(self, data, graph, a="xnnpack", b="reference"):
        self._operators = schema.ModelT.InitFromPackedBuf(bytearray(data), 0).subgraphs[0].operators
        self.graph, self.a, self.b = graph, a, b

    def supports(self, op):
        if op.name not in ANALYSED_OPS or len(op.outputs) != 1:
            return False
        tensors = [self.graph.tensors[i] for i in op.inputs[:2]]
        if not all(t.quantized and t.dtype == "int8" for t in tensors):
            return False
        if op.name == "CONV_2D" and tensors[1].shape[3] != tensors[0].shape[3]:
            return False  # grouped convolution
        return True

    def exact(self, op, values):
        """(int64 accumulators shaped like the output, real multiplier per output element, clamp bounds)."""
        graph = self.graph
        x_info, w_info = graph.tensors[op.inputs[0]], graph.tensors[op.inputs[1]]
        out_info = graph.tensors[op.outputs[0]]
        x = np.asarray(values[op.inputs[0]], np.int64) - x_info.zero_point
        weights = np.asarray(values[op.inputs[1]], np.int64) - np.asarray(w_info.zero_points, np.int64).reshape(
            -1)[0]
        options = self._operators[op.index].builtinOptions
        if op.name == "FULLY_CONNECTED":
            acc = x.reshape(-1, weights.shape[1]) @ weights.T
        else:
            acc = _conv_accumulator(x, weights, options, out_info.shape, op.name == "DEPTHWISE_CONV_2D")
        if len(op.inputs) > 2 and op.inputs[2] >= 0:
            acc = acc + np.asarray(values[op.inputs[2]], np.int64).reshape(-1)
        acc = acc.reshape(out_info.shape)
        scales = np.asarray(w_info.scales, np.float64)
        multiplier = np.float64(x_info.scale) * scales / np.float64(out_info.scale)
        bounds = _clamp_bounds(options.fusedActivationFunction, out_info.zero_point, out_info.scale, out_info.dtype)
        return acc, np.broadcast_to(multiplier, acc.shape[-1:]), bounds

    def replicas(self, op, acc, multiplier, zero_point, bounds):
        """What each library is known to compute for ``acc``: name → int64 outputs (see the module docstring)."""
        graph = self.graph
        significand, shift = quantize_multiplier(multiplier)
        double = np.clip(multiply_by_quantized_multiplier(acc, significand, shift) + zero_point, *bounds)
        value = acc * multiplier
        single = np.clip((np.sign(value) * np.floor(np.abs(value) + 0.5)).astype(np.int64) + zero_point, *bounds)
        x_scale = np.float32(graph.tensors[op.inputs[0]].scale)
        w_scales = np.asarray(graph.tensors[op.inputs[1]].scales, np.float32)
        scale = (x_scale * w_scales) / np.float32(graph.tensors[op.outputs[0]].scale)
        fp32 = np.clip(np.rint(acc.astype(np.float32) * scale).astype(np.int64) + zero_point, *bounds)
        total = 31 - np.broadcast_to(shift, acc.shape[-1:]).astype(np.int64)  # TFLITE_SINGLE_ROUNDING's formula
        rounded = (acc * significand + (np.int64(1) << (total - 1))) >> total
        single_rounding = np.clip(rounded + zero_point, *bounds)
        return {"xnnpack": fp32, "tflm": double, "single_rounding": single_rounding, "tflm-single": single_rounding,
                "reference": single if op.name == "FULLY_CONNECTED" else double}, shift

    def classify(self, op, values, got_a, got_b):
        """Class counts (a ``Counter``) of the elements where ``got_a`` and ``got_b`` (the two libraries' outputs
        of ``op`` for the same ``values``: tensor index → array, inputs and constants) differ."""
        acc, multiplier, bounds = self.exact(op, values)
        zero_point = self.graph.tensors[op.outputs[0]].zero_point
        got = {self.a: np.asarray(got_a, np.int64).reshape(acc.shape),
               self.b: np.asarray(got_b, np.int64).reshape(acc.shape)}
        value = acc * multiplier
        correct = np.clip(np.floor(value + 0.5).astype(np.int64) + zero_point, *bounds)
        fraction = value - np.floor(value)
        replicas, shift = self.replicas(op, acc, multiplier, zero_point, bounds)
        window = 2.0 ** -(np.maximum(-np.broadcast_to(shift, acc.shape[-1:]), 0) + 1)
        counts = Counter()
        differ = got[self.a] != got[self.b]
        counts["elements"] = int(differ.sum())
        counts["tie"] = int((differ & (np.abs(fraction - 0.5) < 1e-9)).sum())
        untied = differ & (np.abs(fraction - 0.5) >= 1e-9)
        ok = {name: got[name] == correct for name in got}
        for name, other in ((self.a, self.b), (self.b, self.a)):
            off = untied & ~ok[name] & ok[other]
            counts[f"{name}_off"] = int(off.sum())
            in_window = off & (np.abs(fraction - 0.5) <= np.broadcast_to(window, acc.shape))
            counts[f"{name}_off_double_rounding"] = int(in_window.sum())
        counts["both_off"] = int((untied & ~ok[self.a] & ~ok[self.b]).sum())
        for name in got:
            if name in replicas:
                counts[f"{name}_replica_match"] = int((replicas[name] == got[name]).sum())
            counts[f"single_rounding_differs_from_{name}"] = int((replicas["single_rounding"] != got[name]).sum())
        counts["outputs"] = int(acc.size)
        return counts
