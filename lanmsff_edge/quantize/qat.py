"""Quantization-aware training (tfmot, Keras 2) for every layer of LANMSFF.

The default 8-bit scheme covers convolutions (BN folded, per-channel weights), transposed convolutions, dense,
concatenation, pooling and ReLU. LANMSFF adds layers it does not know; each gets a ``QuantizeConfig`` that puts
fake-quant exactly where the int8 TFLite graph holds a requantized tensor:

- ``ChannelShuffle`` / ``ChannelSplit`` (RESHAPE, TRANSPOSE, SPLIT): none, the int8 kernels keep the input scale;
- ``ChannelMean`` (MEAN) and the broadcast ``Multiply`` of MassAtt (MUL): the output;
- ``PWFS`` (SPLIT, MINIMUM ×2, ADD ×2, SUB, MUL): trained as ``QuantizedPWFS``, the same computation with
  fake-quant after each ADD and the SUB (MINIMUM keeps its input scale), and the output quantized by its config.
"""
from pathlib import Path

import numpy as np

from lanmsff_edge import tf_private  # noqa: E402
from lanmsff_edge.extras import import_training_module
from lanmsff_edge.keras import keras, tf  # before tfmot: selects Keras 2 (tf_keras)
from lanmsff_edge.model.layers import CUSTOM_OBJECTS, PWFS, ChannelMean, ChannelShuffle, ChannelSplit  # noqa: E402
from lanmsff_edge.quantize.converter import MIN_RANGE  # noqa: E402
from lanmsff_edge.quantize.rewrite import relu_before_pool  # noqa: E402

DEFAULT_EPOCHS = 3
DEFAULT_LEARNING_RATE = 5e-5

tfmot = import_training_module("tensorflow_model_optimization")
_tfmot_keras = tfmot.quantization.keras
_register = keras.utils.register_keras_serializable(package="lanmsff_quantize")


def _activation_quantizer():
    """The default scheme's activation quantizer: asymmetric 8 bit, moving-average range."""
    return _tfmot_keras.quantizers.MovingAverageQuantizer(num_bits=8, per_axis=False, symmetric=False,
                                                          narrow_range=False)


@_register
class QuantizedPWFS(PWFS):
    """PWFS with fake-quant on its intermediate sums, so every tensor of its TFLite ops has a trained range."""

    STAGES = ("sum01", "sum012", "diff")

    def build(self, input_shape):
        super().build(input_shape)
        self._quantizer = _activation_quantizer()
        self._ranges = {stage: self._quantizer.build(None, f"pwfs_{stage}", self) for stage in self.STAGES}

    def _fake_quant(self, x, stage, training):
        weights = self._ranges[stage]
        return tf_private.smart_cond(training,
                                     lambda: self._quantizer(x, True, weights=weights),
                                     lambda: self._quantizer(x, False, weights=weights))

    def call(self, inputs, training=None):
        if training is None:
            training = keras.backend.learning_phase()
        s0, s1, s2 = tf.split(inputs, 3, axis=-1)
        lowest = tf.minimum(tf.minimum(s0, s1), s2)
        total = self._fake_quant(s0 + s1, "sum01", training)
        total = self._fake_quant(total + s2, "sum012", training)
        return self._fake_quant(total - lowest, "diff", training) * 0.5


def _quantize_config_for(layer):
    """The QuantizeConfig of a layer the default registry does not cover, or None for registry layers."""
    if isinstance(layer, (ChannelShuffle, ChannelSplit)):
        return tf_private.noop_quantize_config()
    if isinstance(layer, (ChannelMean, PWFS, keras.layers.Multiply)):
        return tf_private.output_quantize_config()
    return None


def _annotate(layer):
    """clone_model's clone_function: a copy of ``layer`` marked for quantization with the right config."""
    if isinstance(layer, keras.layers.InputLayer):
        return layer.__class__.from_config(layer.get_config())
    if type(layer) is PWFS:
        layer = QuantizedPWFS.from_config(layer.get_config())
    else:
        layer = layer.__class__.from_config(layer.get_config())
    return _tfmot_keras.quantize_annotate_layer(layer, quantize_config=_quantize_config_for(layer))


def quantize_scope():
    """The scope tfmot needs to rebuild (clone, load) a quantization-aware LANMSFF."""
    return _tfmot_keras.quantize_scope({**CUSTOM_OBJECTS, "QuantizedPWFS": QuantizedPWFS,
                                        **tf_private.quantize_config_classes()})


def quantize_aware_model(model):
    """A quantization-aware copy of a float LANMSFF (same weights), ready to fine-tune and convert.

    The copy is built from ``relu_before_pool(model)`` (identical outputs; see ``rewrite``).
    """
    model = relu_before_pool(model)
    annotated = keras.models.clone_model(model, clone_function=_annotate)
    for layer, copy in zip(model.layers, annotated.layers):  # clone_model keeps the layer order
        if layer.weights:
            getattr(copy, "layer", copy).set_weights(layer.get_weights())
    with quantize_scope():
        return _tfmot_keras.quantize_apply(annotated)


def set_input_range(qat_model, low=0.0, high=1.0):
    """Pin the input fake-quant range to the model's input range ([0, 1] after min-max normalisation).

    The int8 input then has scale 1/255 and zero point -128: a device feeds ``round(255·x) − 128``, exactly the
    min-max-normalised pixel, with no rounding loss on the way in.
    """
    quantize_layer = tf_private.quantize_layer_class()
    layer = next(layer for layer in qat_model.layers if isinstance(layer, quantize_layer))
    for variable in layer.weights:
        name = variable.name.split("/")[-1].split(":")[0]
        if name.endswith("_min"):
            variable.assign(low)
        elif name.endswith("_max"):
            variable.assign(high)


def calibrate_ranges(qat_model, inputs, batch_size=32):
    """Start every activation range at the min/max its tensor spans on ``inputs`` (float model inputs: the
    calibration sample), as post-training calibration would. Returns how many ranges were set and which ones
    were widened.

    tfmot starts each range at [-6, 6] and moves it by an exponential moving average (decay 0.999), so after a
    few hundred fine-tuning steps most of the initial guess is still there: a sigmoid product that lives in
    [0, 1] would be quantized over [-5, 5]. Here the weight ranges are set by one training-mode pass (batch norm
    frozen, so its statistics do not move), then the sample runs in inference mode (no dropout) with every
    moving-average quantizer replaced by a running min/max observer. Ranges narrower than ``MIN_RANGE`` are
    widened to it, as for PTQ (see ``converter.MIN_RANGE``).
    """
    inputs = np.asarray(inputs, dtype=np.float32)
    _freeze_batch_norm(qat_model)
    qat_model(inputs[:batch_size], training=True)  # LastValueQuantizer: weight ranges from the weights
    seen = set()

    def observer(fake_quant):
        def observe(inputs, min_var, max_var, per_channel=False, is_training=False, num_bits=8, narrow_range=False,
                    **unused):
            axes = tuple(range(len(inputs.shape) - 1)) if per_channel else None
            low = tf.minimum(tf.reduce_min(inputs, axis=axes), 0.0)  # TFLite ranges always contain 0
            high = tf.maximum(tf.reduce_max(inputs, axis=axes), 0.0)
            if min_var.ref() in seen:
                low, high = tf.minimum(min_var, low), tf.maximum(max_var, high)
            seen.add(min_var.ref())
            min_var.assign(low)
            max_var.assign(high)
            return fake_quant(inputs, min_var, max_var, per_channel=per_channel, is_training=False,
                              num_bits=num_bits, narrow_range=narrow_range)

        return observe

    with tf_private.moving_average_quantize(observer):
        for start in range(0, len(inputs), batch_size):
            qat_model(inputs[start:start + batch_size], training=False)
    widened = []
    for layer in qat_model.layers:
        for variable in layer.non_trainable_weights:
            if variable.ref() in seen:  # a min variable: widen its range to MIN_RANGE if narrower
                maximum = _partner(layer, variable)
                if np.any(maximum.numpy() - variable.numpy() < MIN_RANGE):
                    maximum.assign(tf.maximum(maximum, variable + MIN_RANGE))
                    widened.append(variable.name.rsplit("_min", 1)[0])
    set_input_range(qat_model)
    return {"observed_ranges": len(seen), "widened_ranges": widened}


def _partner(layer, min_variable):
    """The ``…_max`` variable created next to the ``…_min`` variable of a quantizer."""
    name = min_variable.name.rsplit("_min", 1)[0] + "_max"
    return next(v for v in layer.non_trainable_weights if v.name.rsplit(":", 1)[0] == name.rsplit(":", 1)[0])


def _disable_dropout(qat_model):
    """Dropout scales the kept activations by 1/(1 − rate) in training: the moving-average ranges would track
    that inflated distribution instead of the one inference sees."""
    for layer in qat_model.layers:
        inner = getattr(layer, "layer", layer)
        if isinstance(inner, keras.layers.Dropout):
            inner.rate = 0.0


def float_model_of(qat_model, float_model):
    """A float LANMSFF (the architecture of ``float_model``) holding the QAT model's fine-tuned weights.

    Fine-tuning changes the weights, so "QAT int8 vs the original float model" mixes what quantization costs with
    what the extra epochs gained (a lot, on an under-trained model); "QAT int8 vs this model" is the cost alone.
    """
    copy = keras.models.clone_model(float_model)
    copy.set_weights(float_model.get_weights())
    trained = {variable.name: variable for variable in qat_model.weights}  # "block1_c1_conv/kernel:0", …
    for layer in copy.layers:
        if layer.weights:  # the wrappers keep the float layer's variable names
            layer.set_weights([trained[variable.name].numpy() for variable in layer.weights])
    return copy


def _freeze_batch_norm(qat_model):
    """BN in inference mode (moving statistics, frozen affine): the statistics the converter folds stay the ones
    the weights were fake-quantized against, and small fine-tuning batches do not disturb them."""
    for layer in qat_model.layers:
        inner = getattr(layer, "layer", layer)
        if isinstance(inner, keras.layers.BatchNormalization):
            layer.trainable = False


def fine_tune(qat_model, train, val=None, epochs=DEFAULT_EPOCHS, learning_rate=DEFAULT_LEARNING_RATE,
              batch_size=32, seed=0, augment="online", freeze_batch_norm=True, dropout=False, verbose=0,
              callbacks=(), checkpoint_path=None, resume_from=None, settings=None, announce=False,
              soft_targets=False):
    """Quantization-aware fine-tuning on ``train`` (``LabeledImages``); ``val`` picks the best epoch.

    Call ``calibrate_ranges`` first. Adam at a low learning rate, categorical cross-entropy (the training
    recipe's loss), batch norm frozen and dropout off by default (see ``_freeze_batch_norm``, ``_disable_dropout``).
    The input range is pinned to [0, 1] afterwards (``set_input_range``). ``augment``: as training's
    ("online", "paper" or "none"); use the one the model was trained with. ``checkpoint_path``: written after
    every epoch (with ``settings``, see ``qat_checkpoint``); ``resume_from``: a loaded checkpoint to continue at
    its next epoch (epoch e is seeded with ``seed + e``, as training is). ``announce``: log one line per epoch.
    ``soft_targets``: fine-tune on the images' vote distributions (a ``train --targets votes`` model). ``verbose``:
    progress lines inside each epoch (``engine.ProgressLog``).
    Runs on the fit engine (``training/engine.py``), as training does.
    Returns the per-epoch history (a list per metric) and the epoch kept.
    """
    from lanmsff_edge.artifacts import checkpoint as ckpt
    from lanmsff_edge.data import make_tf_dataset
    from lanmsff_edge.training import engine
    from lanmsff_edge.training.history import columns

    initial_epoch, state = engine.start(resume_from, seed, {"settings": dict(settings or {})})
    if freeze_batch_norm:
        _freeze_batch_norm(qat_model)
    if not dropout:
        _disable_dropout(qat_model)
    qat_model.compile(optimizer=keras.optimizers.Adam(learning_rate), loss="categorical_crossentropy",
                      metrics=["accuracy"])
    keep = engine.KeepBest() if val is not None else None
    if resume_from is not None:
        ckpt.restore(qat_model, resume_from, checkpoint_path or "the QAT checkpoint")
        if keep is not None:
            keep.restore(resume_from.state, resume_from.best())
    if epochs > initial_epoch:
        train_data, _ = engine.training_data(train, augment, batch_size, seed, initial_epoch,
                                             soft_targets=soft_targets)
        val_data = None if val is None else make_tf_dataset(val, 64)
        saved_as = None if checkpoint_path is None else Path(checkpoint_path).name

        def status(epoch, row):
            shown = "  ".join(f"{key} {value:.4f}" for key, value in row.items() if key != "epoch")
            return f"qat      epoch {epoch}: {shown}" + ("" if saved_as is None else f"; checkpoint {saved_as} saved")

        recorder = engine.FitRecorder(
            state, path=None if checkpoint_path is None else Path(checkpoint_path), best=keep,
            state_of=lambda model: keep.get_state() if keep is not None else {"best": None, "best_epoch": None},
            status=status, announce=announce)
        engine.run(qat_model, train_data, val_data=val_data, epochs=epochs, initial_epoch=initial_epoch,
                   recorder=recorder, trackers=[keep] if keep else [], callbacks=callbacks, verbose=verbose,
                   epoch_lines=not announce)
    elif keep is not None and keep.best_weights is not None:  # every epoch was done before the interruption
        qat_model.set_weights(keep.best_weights)
    set_input_range(qat_model)
    return {"epochs": int(epochs), "learning_rate": float(learning_rate), "batch_size": int(batch_size),
            "freeze_batch_norm": bool(freeze_batch_norm), "dropout": bool(dropout), "augment": augment,
            "targets": "votes" if soft_targets else "majority",
            "history": columns(state["history"]),
            "resumed_at_epoch": initial_epoch + 1 if resume_from is not None else None,
            "kept_epoch": None if keep is None else keep.best_epoch}
