"""Activation range statistics of a float Keras model on the calibration sample, per layer output.

Min, max, mean and standard deviation are exact over every value. Percentiles come from a seeded uniform
subsample of each tensor's values (``values_per_batch`` per batch, ~80 k for a 500-image sample): keeping every
value of the 64×64 feature maps would take gigabytes. The figures show what a per-tensor int8 range has to
cover and how far the extremes sit from the bulk (a max far beyond the 99.99th percentile wastes codes).
"""
import numpy as np

PERCENTILES = (0.01, 0.1, 1.0, 50.0, 99.0, 99.9, 99.99)


def _layer_outputs(model):
    """``[(tensor name, symbolic tensor)]`` for every layer output except the inputs; ``name:i`` for lists."""
    from lanmsff_edge.keras import keras

    named = []
    for layer in model.layers:
        if isinstance(layer, keras.layers.InputLayer):
            continue
        outputs = layer.output
        if isinstance(outputs, (list, tuple)):
            named.extend((f"{layer.name}:{i}", tensor) for i, tensor in enumerate(outputs))
        else:
            named.append((layer.name, outputs))
    return named


class _RunningStats:
    def __init__(self, shape):
        self.shape = list(shape[1:])
        self.low, self.high = np.inf, -np.inf
        self.total = self.squares = 0.0
        self.count = 0
        self.samples = []

    def update(self, values, rng, keep):
        flat = values.reshape(-1).astype(np.float64)
        self.low = min(self.low, float(flat.min()))
        self.high = max(self.high, float(flat.max()))
        self.total += float(flat.sum())
        self.squares += float(np.square(flat).sum())
        self.count += flat.size
        self.samples.append(flat[rng.integers(0, flat.size, min(keep, flat.size))] if flat.size > keep else flat)

    def result(self, percentiles):
        mean = self.total / self.count
        kept = np.concatenate(self.samples)
        return {
            "shape": self.shape,
            "min": self.low,
            "max": self.high,
            "mean": mean,
            "std": float(np.sqrt(max(self.squares / self.count - mean * mean, 0.0))),
            "percentiles": {f"p{p:g}": float(v) for p, v in zip(percentiles, np.percentile(kept, percentiles))},
            "int8_step": (self.high - min(self.low, 0.0)) / 255.0,
        }


def activation_ranges(model, inputs, batch_size=16, values_per_batch=4096, percentiles=PERCENTILES, seed=0):
    """``{"input": {...}, "<layer name>": {...}, ...}``: range statistics of every layer output of ``model``.

    ``inputs``: float32 model inputs (N×64×64×1). ``int8_step`` is the quantization step a min/max
    calibration would give the tensor (range widened to include 0, as TFLite does).
    """
    from lanmsff_edge.keras import keras

    names, tensors = zip(*_layer_outputs(model))
    probe = keras.Model(model.inputs, list(tensors))
    rng = np.random.default_rng(seed)
    inputs = np.asarray(inputs, dtype=np.float32)
    stats = {"input": _RunningStats(inputs.shape)}
    stats.update({name: _RunningStats(tensor.shape) for name, tensor in zip(names, tensors)})
    for start in range(0, len(inputs), batch_size):
        batch = inputs[start:start + batch_size]
        stats["input"].update(batch, rng, values_per_batch)
        for name, values in zip(names, probe(batch, training=False)):
            stats[name].update(np.asarray(values), rng, values_per_batch)
    return {name: stat.result(percentiles) for name, stat in stats.items()}
