"""Representative data in the form ``tf.lite.TFLiteConverter.representative_dataset`` takes."""
import numpy as np

from lanmsff_edge.data.common import LabeledImages, to_model_input


def model_inputs(images):
    """float32 N×64×64×1 model inputs from a ``LabeledImages``, uint8 faces, or inputs already prepared."""
    if isinstance(images, LabeledImages):
        images = images.images
    images = np.asarray(images)
    if images.dtype == np.uint8:
        return to_model_input(images)
    images = images.astype(np.float32)
    return images[..., None] if images.ndim == 3 else images


def representative_dataset(images, limit=None):
    """A zero-argument callable returning a generator of ``[x]`` with x of shape 1×64×64×1 (the batch-1 export).

    ``images``: the calibration sample (``LabeledImages``, uint8 faces or float inputs); ``limit``: use the
    first N only.
    """
    inputs = model_inputs(images)
    if limit is not None:
        inputs = inputs[:int(limit)]

    def generate():
        for x in inputs:
            yield [x[None]]

    return generate
