"""Rows every device shares: a Keras model timed by TensorFlow, a TFLite model timed by LiteRT on the host CPU."""
from lanmsff_edge.bench.measure import score, time_keras, time_tflite, timing_input
from lanmsff_edge.bench.record import BenchResult
from lanmsff_edge.errors import UserError
from lanmsff_edge.log import get_logger

LOGGER = get_logger(__name__)

# What a failing runtime raises for a model it cannot run (recorded in the row; the bench goes on).
RUNTIME_ERRORS = (UserError, RuntimeError, ValueError)


def one_line(error):
    text = " ".join(str(error).split())
    return text or type(error).__name__


def new_row(model, runtime):
    return BenchResult(model=model.name, path=model.path, format=model.format, precision=model.precision,
                       runtime=runtime, params=model.params, macs=model.macs, size_bytes=model.size_bytes,
                       notes=list(model.notes))


def measure_row(row, model, settings, predict, timer):
    """Latency from ``timer()`` and, with a data set, accuracy from ``predict``, into ``row``.

    A runtime that fails is recorded in the row's error; the bench goes on with the other rows.
    """
    try:
        row.latency = timer()
        if settings.data is not None:
            score(row, model, predict, settings.data)
    except RUNTIME_ERRORS as error:
        row.error = one_line(error)
    return row


def time_runtime(runtime, model, settings):
    """Batch-1 latency of a TFLite runtime on the bench's timing input."""
    return time_tflite(runtime, timing_input(model, settings.data), settings.runs, settings.warmup)


def threads_text(threads):
    return "all cores" if not threads else f"{threads} thread{'s' if threads != 1 else ''}"


def keras_row(model, settings, device="/CPU:0", where="host CPU"):
    from lanmsff_edge.bench.host import package_version

    threads = settings.keras_threads if device.startswith("/CPU") else None
    label = f"TensorFlow {package_version('tensorflow')} tf.function"
    label += f", {threads_text(threads)} ({where})" if device.startswith("/CPU") else f" ({where})"
    row = new_row(model, label)
    LOGGER.info(f"{model.name}: timing Keras on {where}")
    return measure_row(row, model, settings, model.runtime().predict,
                       lambda: time_keras(model, timing_input(model, settings.data), settings.runs, settings.warmup,
                                          device))


def litert_label(runtime, threads):
    from lanmsff_edge.bench.host import package_version

    backend = getattr(runtime, "backend", "LiteRT")
    version = {"ai_edge_litert": package_version("ai-edge-litert"),
               "tflite_runtime": package_version("tflite-runtime")}.get(backend, package_version("tensorflow"))
    kernels = "XNNPACK" if getattr(runtime, "xnnpack", True) else "builtin kernels (XNNPACK refused the model)"
    return f"LiteRT ({backend} {version}) {kernels}, {threads_text(threads)} (host CPU)"


def litert_row(model, settings):
    LOGGER.info(f"{model.name}: timing LiteRT on the host CPU")
    try:
        runtime = model.runtime(settings.threads)
    except RUNTIME_ERRORS as error:
        row = new_row(model, "LiteRT (host CPU)")
        row.error = one_line(error)
        return row
    row = new_row(model, litert_label(runtime, settings.threads))
    return measure_row(row, model, settings, runtime.predict, lambda: time_runtime(runtime, model, settings))
