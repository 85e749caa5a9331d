"""The Keras the whole package uses: Keras 2 (``tf_keras``), as tensorflow-model-optimization requires.

Importing this module starts TensorFlow: only what trains, converts or loads a .keras model imports it, inside
its functions, so the deployment commands run without the ``[train]`` extra (``extras.TensorFlowMissing``).

TensorFlow's native libraries print start-up notes (oneDNN, "no CUDA drivers") straight to file descriptor 2
before any logging setting applies; they are hidden while importing unless ``LANMSFF_VERBOSE=1``. So are
TensorFlow's Python warnings (its ``tensorflow`` logger: AutoGraph's "could not transform" notes during
quantization-aware training, retracing notes), which speak of TensorFlow's internals, not of the user's run.
"""
import contextlib
import os

from lanmsff_edge.extras import import_training_module
from lanmsff_edge.log import tensorflow_verbose


@contextlib.contextmanager
def quiet_native_stderr():
    """Silence C-level writes to stderr for the duration (Python exceptions still propagate afterwards)."""
    if tensorflow_verbose():
        yield
        return
    saved = os.dup(2)
    try:
        with open(os.devnull, "w") as devnull:
            os.dup2(devnull.fileno(), 2)
            yield
    finally:
        os.dup2(saved, 2)
        os.close(saved)


with quiet_native_stderr():
    tf = import_training_module("tensorflow")
    keras = import_training_module("tf_keras")

    tf.config.list_physical_devices("GPU")  # the CUDA probe prints here, once

if not tensorflow_verbose():
    tf.get_logger().setLevel("ERROR")

__all__ = ["tf", "keras", "quiet_native_stderr"]
