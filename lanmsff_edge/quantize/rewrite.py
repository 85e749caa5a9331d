"""Float-exact graph rewrites that make the int8 graph cheaper and more precise.

LANMSFF ends its blocks with Conv → BN → MaxPool → ReLU. MaxPool and ReLU commute (both are monotone, and
max(relu(a), relu(b)) = relu(max(a, b))), so Conv → BN → ReLU → MaxPool computes the same numbers. In that
order the converter fuses the ReLU into the convolution and quantizes its output over [0, max] instead of
[min, max] (one more bit for every block output), and the requantize op (QUANTIZE int8→int8) that the
original order needs after each block disappears.
"""
from collections import defaultdict

from lanmsff_edge.keras import keras
from lanmsff_edge.model.layers import CUSTOM_OBJECTS


def _is_plain_relu(layer_config):
    config = layer_config["config"]
    return (layer_config["class_name"] == "ReLU" and config.get("max_value") is None
            and not config.get("negative_slope") and not config.get("threshold"))


def _inbound_names(layer_config):
    return [inbound[0] for node in layer_config["inbound_nodes"] for inbound in node]


def _rename_inbound(layer_config, old, new):
    for node in layer_config["inbound_nodes"]:
        for inbound in node:
            if inbound[0] == old:
                inbound[0] = new


def relu_before_pool(model):
    """A copy of ``model`` with every MaxPool → ReLU pair swapped to ReLU → MaxPool (same outputs, same
    weights, same layer names). Returns ``model`` itself when there is nothing to swap."""
    config = model.get_config()
    by_name = {layer["name"]: layer for layer in config["layers"]}
    consumers = defaultdict(list)
    for layer in config["layers"]:
        for name in _inbound_names(layer):
            consumers[name].append(layer)
    swapped = 0
    for relu in config["layers"]:
        inbound = _inbound_names(relu)
        if not _is_plain_relu(relu) or len(inbound) != 1 or len(relu["inbound_nodes"]) != 1:
            continue
        pool = by_name[inbound[0]]
        if pool["class_name"] != "MaxPooling2D" or len(consumers[pool["name"]]) != 1:
            continue
        relu_consumers = consumers[relu["name"]]
        relu["inbound_nodes"], pool["inbound_nodes"] = pool["inbound_nodes"], [[[relu["name"], 0, 0, {}]]]
        for consumer in relu_consumers:
            _rename_inbound(consumer, relu["name"], pool["name"])
        for output in config["output_layers"]:
            if output[0] == relu["name"]:
                output[0] = pool["name"]
        consumers[pool["name"]], consumers[relu["name"]] = relu_consumers, [pool]
        swapped += 1
    if not swapped:
        return model
    rewritten = keras.Model.from_config(config, custom_objects=CUSTOM_OBJECTS)
    for layer in model.layers:
        if layer.weights:
            rewritten.get_layer(layer.name).set_weights(layer.get_weights())
    return rewritten
