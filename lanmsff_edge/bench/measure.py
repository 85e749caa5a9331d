"""Measurements every device module shares: Keras and LiteRT timing at batch 1, accuracy on a data set."""
import numpy as np

from lanmsff_edge.bench.timing import time_calls
from lanmsff_edge.errors import UserError


def configure_tf_threads(threads):
    """Pin TensorFlow's intra/inter-op pools to ``threads`` (fair against a ``threads``-thread LiteRT).

    TensorFlow fixes its pools when it first runs an op; later the setting cannot change. Returns
    (threads TensorFlow uses, note or None) so the report says what really happened.
    """
    from lanmsff_edge.keras import tf

    try:
        tf.config.threading.set_intra_op_parallelism_threads(threads)
        tf.config.threading.set_inter_op_parallelism_threads(threads)
    except RuntimeError:
        current = tf.config.threading.get_intra_op_parallelism_threads()
        shown = current or "all cores"
        if current == threads:
            return threads, None
        return current, (f"TensorFlow was already running in this process with {shown} intra-op threads; "
                         f"Keras rows ran with that, not {threads}")
    return threads, None


def keras_timer(model, x, device="/CPU:0"):
    """A no-argument callable running one batch-1 inference of ``model`` on ``device`` in a ``tf.function``
    (no Python ``predict`` overhead) and fetching the result."""
    from lanmsff_edge.keras import tf

    with tf.device(device):
        function = tf.function(lambda t: model(t, training=False),
                               input_signature=[tf.TensorSpec(x.shape, tf.float32)])
        tensor = tf.constant(x, dtype=tf.float32)

    def call():
        with tf.device(device):
            return function(tensor).numpy()

    return call


def time_keras(model, x, runs, warmup, device="/CPU:0"):
    """Latency of a Keras ``BenchModel`` at batch 1; ``x`` is one prepared input (1, H, W, C)."""
    call = keras_timer(model.keras_model, x, device)
    call()  # trace outside the timed and warm-up calls
    return time_calls(call, runs, warmup)


def time_tflite(runtime, x, runs, warmup):
    """Latency of a LiteRT ``LiteRTRuntime``: set input, invoke, read output, per call; ``x`` in float."""
    raw = runtime.quantize_input(x) if hasattr(runtime, "quantize_input") else x
    return time_calls(lambda: runtime.invoke_raw(raw), runs, warmup)


def timing_input(model, data):
    """One prepared input: the first face of the data set, or a fixed pseudo-random face."""
    if data is not None and len(data):
        faces = data.images[:1]
    else:
        faces = np.random.default_rng(0).integers(0, 256, size=(1, 64, 64), dtype=np.uint8)
    return model.inputs(faces)


def check_classes(model, data):
    if data is not None and model.is_tensor_model:
        raise UserError(f"{model.path}: not an image classifier (input {list(model.graph.inputs[0].shape)}, output "
                        f"{list(model.graph.outputs[0].shape)}): bench it without --dataset/--data (it is timed "
                        "and compared on seeded random inputs)")
    if data is not None and model.num_classes != data.num_classes:
        raise UserError(f"{model.path}: the model predicts {model.num_classes} classes but {data.dataset} "
                        f"{data.split} has {data.num_classes} ({', '.join(data.class_names)})")


def score(row, model, predict, data, chunk=256):
    """Fill ``row.accuracy``, ``row.information_density`` and ``row.predictions`` from ``predict`` (prepared
    inputs → probabilities) on ``data``; inputs are prepared ``chunk`` faces at a time (a 224×224×3 model's
    inputs for a whole split would not fit)."""
    from lanmsff_edge.evaluation import metrics_from_predictions
    from lanmsff_edge.runtimes.base import check_finite_outputs

    probs = np.concatenate([predict(model.inputs(data.images[i:i + chunk])) for i in range(0, len(data), chunk)])
    check_finite_outputs(np.asarray(probs, np.float32), model.path)
    metrics = metrics_from_predictions(data.labels, probs, data.class_names, params=model.params)
    row.accuracy, row.information_density = metrics["accuracy"], metrics["information_density"]
    row.predictions = probs.argmax(axis=1)
