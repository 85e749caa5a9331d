"""LANMSFF's custom layers: small, registered, static-shaped.

Every layer here is serialisable (``get_config``) so a model clones, saves to ``.keras`` and loads back, and each
lowers to TFLite builtins that TFLite Micro has kernels for (RESHAPE, TRANSPOSE, MEAN, SPLIT, ADD, SUB,
MINIMUM, MUL). Shapes are read from the static tensor shape, never at run time, so a batch-1 export carries no
SHAPE / PACK / REDUCE_PROD ops.
"""
from lanmsff_edge.keras import keras, tf

_register = keras.utils.register_keras_serializable(package="lanmsff")


@_register
class ChannelShuffle(keras.layers.Layer):
    """ShuffleNet channel shuffle: view C channels as (groups, C/groups), transpose, flatten back.

    Written as reshape → transpose → reshape of rank-3 tensors. With a static batch (the batch-1 export) every
    target shape is a constant; during training the leading dimension is the only one left to infer.
    """

    def __init__(self, groups=2, **kwargs):
        super().__init__(**kwargs)
        self.groups = int(groups)

    def build(self, input_shape):
        if input_shape[-1] % self.groups:
            raise ValueError(f"{self.name}: {input_shape[-1]} channels do not split into {self.groups} groups")
        super().build(input_shape)

    def call(self, inputs):
        batch, height, width, channels = inputs.shape
        rows = -1 if batch is None else batch * height * width
        grouped = tf.reshape(inputs, [rows, self.groups, channels // self.groups])
        shuffled = tf.transpose(grouped, [0, 2, 1])
        return tf.reshape(shuffled, [-1 if batch is None else batch, height, width, channels])

    def compute_output_shape(self, input_shape):
        return input_shape

    def get_config(self):
        return {**super().get_config(), "groups": self.groups}


@_register
class ChannelSplit(keras.layers.Layer):
    """Split the channel axis into ``parts`` equal tensors (one SPLIT op; no slicing layers)."""

    def __init__(self, parts=2, **kwargs):
        super().__init__(**kwargs)
        self.parts = int(parts)

    def call(self, inputs):
        return tf.split(inputs, self.parts, axis=-1)

    def compute_output_shape(self, input_shape):
        shape = tf.TensorShape(input_shape).as_list()
        shape[-1] //= self.parts
        return [tf.TensorShape(shape)] * self.parts

    def get_config(self):
        return {**super().get_config(), "parts": self.parts}


@_register
class ChannelMean(keras.layers.Layer):
    """Mean over the channel axis, keeping it: H×W×C → H×W×1 (MassAtt's spatial descriptor D_s, eq. 4)."""

    def call(self, inputs):
        return tf.reduce_mean(inputs, axis=-1, keepdims=True)

    def compute_output_shape(self, input_shape):
        return tf.TensorShape(input_shape)[:-1].concatenate([1])


@_register
class PWFS(keras.layers.Layer):
    """Point-wise feature selection (paper eq. 2): v = (max(S0,S1,S2) + median(S0,S1,S2)) / 2 → C/3 channels.

    For three values max + median = sum − min, so the layer computes (S0 + S1 + S2 − min) / 2: the same number
    with fewer ops (and fewer rounding steps once quantized).
    """

    def build(self, input_shape):
        if input_shape[-1] % 3:
            raise ValueError(f"{self.name}: PWFS needs a channel count divisible by 3, got {input_shape[-1]}")
        super().build(input_shape)

    def call(self, inputs):
        s0, s1, s2 = tf.split(inputs, 3, axis=-1)
        lowest = tf.minimum(tf.minimum(s0, s1), s2)
        return (s0 + s1 + s2 - lowest) * 0.5

    def compute_output_shape(self, input_shape):
        shape = tf.TensorShape(input_shape).as_list()
        shape[-1] //= 3
        return tf.TensorShape(shape)


CUSTOM_OBJECTS = {cls.__name__: cls for cls in (ChannelShuffle, ChannelSplit, ChannelMean, PWFS)}
