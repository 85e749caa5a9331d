"""Parameter and multiply-accumulate counts of a Keras model, per layer and per LANMSFF block.

MACs count the multiply-accumulates of convolutions, transposed convolutions and dense layers (the
convention of model-zoo tables); batch norm folds into the convolutions at export and element-wise ops are
not counted.
"""
from dataclasses import dataclass

import numpy as np

from lanmsff_edge.keras import keras

L = keras.layers


@dataclass
class LayerCost:
    name: str
    kind: str
    params: int
    macs: int
    output_shape: tuple


def _spatial(shape):
    return int(np.prod([d for d in shape[1:-1]]))


def layer_macs(layer):
    """Multiply-accumulates of one layer for one image (0 for layers without a kernel)."""
    if isinstance(layer, L.Conv2DTranspose):
        kernel_h, kernel_w, out_ch, in_ch = layer.kernel.shape
        return _spatial(layer.input_shape) * kernel_h * kernel_w * in_ch * out_ch
    if isinstance(layer, L.DepthwiseConv2D):
        kernel_h, kernel_w, in_ch, multiplier = layer.depthwise_kernel.shape
        return _spatial(layer.output_shape) * kernel_h * kernel_w * in_ch * multiplier
    if isinstance(layer, L.SeparableConv2D):
        kernel_h, kernel_w, in_ch, multiplier = layer.depthwise_kernel.shape
        out_ch = layer.pointwise_kernel.shape[-1]
        return _spatial(layer.output_shape) * (kernel_h * kernel_w * in_ch * multiplier + in_ch * multiplier * out_ch)
    if isinstance(layer, L.Conv2D):
        kernel_h, kernel_w, in_ch, out_ch = layer.kernel.shape
        return _spatial(layer.output_shape) * kernel_h * kernel_w * in_ch * out_ch
    if isinstance(layer, L.Dense):
        return int(np.prod(layer.kernel.shape))
    return 0


def layer_costs(model):
    """One ``LayerCost`` per layer of a functional model, in graph order (nested models are expanded)."""
    costs = []
    for layer in model.layers:
        if isinstance(layer, keras.Model):
            costs.extend(layer_costs(layer))
            continue
        shape = layer.output_shape
        costs.append(LayerCost(layer.name, type(layer).__name__, int(layer.count_params()), int(layer_macs(layer)),
                               tuple(shape) if isinstance(shape, tuple) else tuple(map(tuple, shape))))
    return costs


def block_of(layer_name):
    """'block2_massatt_fc1' → 'block2'; fusion and head layers → 'fusion' / 'head'; the input → 'input'."""
    prefix = layer_name.split("_", 1)[0]
    return prefix if prefix in {"block1", "block2", "block3", "block4", "fusion", "head"} else "other"


def model_summary(model):
    """Totals and a per-block breakdown: ``{"params", "trainable_params", "macs", "blocks": [...]}``."""
    costs = layer_costs(model)
    blocks = {}
    for cost in costs:
        block = blocks.setdefault(block_of(cost.name), {"block": block_of(cost.name), "params": 0, "macs": 0,
                                                        "output_shape": None})
        block["params"] += cost.params
        block["macs"] += cost.macs
        block["output_shape"] = cost.output_shape
    trainable = int(sum(np.prod(w.shape) for w in model.trainable_weights))
    return {
        "name": model.name,
        "input_shape": tuple(model.input_shape),
        "num_classes": int(model.output_shape[-1]),
        "params": int(model.count_params()),
        "trainable_params": trainable,
        "macs": int(sum(c.macs for c in costs)),
        "blocks": [b for b in blocks.values() if b["params"] or b["macs"]],
    }
