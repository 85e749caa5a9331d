"""``--device gpu``: Keras models on a GPU TensorFlow can see (batch 1, ``tf.function``), with peak GPU memory;
TFLite rows run on the host CPU through LiteRT (labelled so) for comparison."""
from lanmsff_edge.bench.rows import keras_row, litert_row
from lanmsff_edge.errors import UserError


def visible_gpus():
    from lanmsff_edge.keras import tf

    return tf.config.list_physical_devices("GPU")


def require_gpu():
    """The first visible GPU's logical name ('/GPU:0'), or a UserError saying why there is none."""
    from lanmsff_edge.keras import tf

    if visible_gpus():
        return "/GPU:0"
    if not tf.test.is_built_with_cuda():
        why = f"this TensorFlow {tf.__version__} build has no CUDA support"
    else:
        why = (f"TensorFlow {tf.__version__} is built with CUDA but found no usable GPU: check nvidia-smi, the driver "
               f"and CUDA_VISIBLE_DEVICES={_env('CUDA_VISIBLE_DEVICES')}")
    raise UserError(f"no GPU visible to TensorFlow ({why}); use --device cpu")


def _env(name):
    import os

    return os.environ.get(name, "<unset>")


def gpu_name():
    from lanmsff_edge.keras import tf

    gpus = visible_gpus()
    if not gpus:
        return None
    details = tf.config.experimental.get_device_details(gpus[0])
    return details.get("device_name", gpus[0].name)


def run(models, settings):
    from lanmsff_edge.keras import tf

    device = require_gpu()
    name = gpu_name()
    rows = []
    for model in models:
        if not model.is_keras:
            rows.append(litert_row(model, settings))
            continue
        try:
            tf.config.experimental.reset_memory_stats("GPU:0")
        except (ValueError, RuntimeError):  # memory stats need the BFC allocator; the row still gets a latency
            pass
        row = keras_row(model, settings, device=device, where=f"GPU {name}")
        try:
            row.extra["gpu_peak_memory_bytes"] = int(tf.config.experimental.get_memory_info("GPU:0")["peak"])
        except (ValueError, RuntimeError):
            row.extra["gpu_peak_memory_bytes"] = None
        rows.append(row)
    return rows, [f"GPU: {name}; TFLite rows ran on the host CPU (LiteRT has no desktop GPU delegate here)"], {
        "gpu": {"name": name}}
