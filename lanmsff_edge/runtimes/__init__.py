"""Runtimes: a loaded model behind one protocol (``base.Runtime``: float model inputs → probabilities).

``keras`` (the float model as trained), ``litert`` (LiteRT on the host CPU: XNNPACK, the builtin or the reference
kernels, or a delegate such as the Edge TPU's, ``edgetpu``), ``micro`` (TFLite Micro on the host), and ``parity``
(one model's raw outputs across kernel libraries). ``open_runtime`` turns a ``--model`` reference into one.
"""
from lanmsff_edge.runtimes.base import PREDICT_CHUNK, FunctionRuntime, Runtime, check_face_model, predict_faces

__all__ = ["PREDICT_CHUNK", "FunctionRuntime", "Runtime", "check_face_model", "open_runtime", "predict_faces"]


def open_runtime(model, batch_size=64, fmt="float", num_threads=None):
    """A face classifier's ``Runtime`` from a ``Runtime`` (as it is), a Keras model, or a ``--model`` reference: a
    ``.keras`` / ``.tflite`` file, a run folder or a preset (``fmt``: the preset's file when the name has none).

    Keras models and files are checked to take N×64×64×1 faces and give N×C probabilities (``check_face_model``)."""
    if isinstance(model, Runtime) and not _is_keras(model):
        return model
    from lanmsff_edge.runtimes.keras import KerasRuntime

    if _is_keras(model):
        _check_keras(model, model.name)
        return KerasRuntime(model, batch_size)
    from lanmsff_edge.artifacts.reference import resolve_model_path

    path = resolve_model_path(model, bundled_format=fmt)
    if path.suffix == ".tflite":
        from lanmsff_edge.runtimes.litert import LiteRTRuntime
        from lanmsff_edge.tflite_graph import read_tflite

        graph = read_tflite(path)
        check_face_model([t.shape for t in graph.inputs], [t.shape for t in graph.outputs], path)
        return LiteRTRuntime(path, num_threads=num_threads)
    from lanmsff_edge.model import load_model

    keras_model = load_model(path)
    _check_keras(keras_model, str(path))
    return KerasRuntime(keras_model, batch_size, source=str(path))


def _is_keras(model):
    return hasattr(model, "predict") and hasattr(model, "output_shape") and hasattr(model, "count_params")


def _check_keras(model, source):
    check_face_model([tuple(t.shape) for t in model.inputs], [tuple(t.shape) for t in model.outputs], source)
