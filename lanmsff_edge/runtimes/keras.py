"""Keras (tf_keras) as a ``Runtime``: the float model as trained."""
import numpy as np


class KerasRuntime:
    """A Keras model: float inputs → its outputs, ``batch_size`` images per step, inference mode."""

    backend = "keras"

    def __init__(self, model, batch_size=64, source=None):
        self.model = model
        self.batch_size = int(batch_size)
        self.source = str(source or model.name)
        self.num_classes = int(model.output_shape[-1])
        self.params = int(model.count_params())

    def predict(self, x):
        x = np.asarray(x, dtype=np.float32)
        if not len(x):
            return np.zeros((0, self.num_classes), np.float32)
        return np.asarray(self.model.predict(x, batch_size=self.batch_size, verbose=0), dtype=np.float32)
