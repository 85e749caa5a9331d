"""The Keras the whole package uses: Keras 2 (``tf_keras``), as tensorflow-model-optimization requires."""
import os

os.environ.setdefault("TF_USE_LEGACY_KERAS", "1")

import tensorflow as tf  # noqa: E402
import tf_keras as keras  # noqa: E402

__all__ = ["tf", "keras"]
