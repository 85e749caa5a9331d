"""The one rule by which a float model input becomes an integer, on the host and on the board.

``q = zero_point + floor(x / scale + 0.5)`` computed in float32, then clamped to the dtype: round half up, what
the bundle's C preprocessing (``templates/preprocess.h.tmpl``) computes on a microcontroller. Every runtime
(LiteRT, TFLite Micro, the parity backends), the golden vector and the C code use it, so accuracy measured on the
host is measured on the integers a board feeds the model (``np.round``, half to even, differs on exact halves).
"""
import numpy as np

RULE = "q = zero_point + floor(x / scale + 0.5), in float32, clamped"


def quantize(x, scale, zero_point, dtype):
    """Float values → integers of ``dtype`` with ``scale`` / ``zero_point`` by ``RULE``."""
    dtype = np.dtype(dtype)
    info = np.iinfo(dtype)
    steps = np.floor(np.asarray(x, np.float32) / np.float32(scale) + np.float32(0.5))
    return np.clip(steps.astype(np.int64) + int(zero_point), info.min, info.max).astype(dtype)


def random_integers(dtype, shape, seed=0):
    """Seeded random integers over ``dtype``'s whole range: a deterministic stand-in input for a model whose real
    inputs are not at hand (a bundle's golden input, a bench of a model that is no image classifier)."""
    info = np.iinfo(np.dtype(dtype))
    return np.random.default_rng(seed).integers(info.min, int(info.max) + 1, size=shape).astype(dtype)


def quantize_for(tensor, x):
    """Float input → the dtype of a graph input tensor (``tflite_graph.TensorInfo``), by ``quantization.RULE``."""
    if not tensor.quantized:
        return np.asarray(x, dtype=np.float32)
    return quantize(x, tensor.scale, tensor.zero_point, tensor.dtype)
