"""Representative data for int8 conversion: which images, in which form, cached where, and what ranges they span.

    sample = representative_sample(load_dataset("ferplus", "ferplus.tar.gz", "train"), size=500)
    converter.representative_dataset = representative_dataset(sample)
    ranges = activation_ranges(float_model, model_inputs(sample))

``load_sample(dataset, data, split, size, seed)`` does the first line through the ``.npz`` cache (see
``calibration.cache``). The ``quantize`` command exposes the size as ``--calibration-size``.
"""
from lanmsff_edge.calibration.cache import cache_dir, load_sample
from lanmsff_edge.calibration.ranges import activation_ranges
from lanmsff_edge.calibration.representative import model_inputs, representative_dataset
from lanmsff_edge.calibration.sample import (
           DEFAULT_SIZE,
           CalibrationWarning,
           representative_sample,
           sample_indices,
           water_fill,
)

__all__ = ["DEFAULT_SIZE", "CalibrationWarning", "representative_sample", "sample_indices", "water_fill",
           "representative_dataset", "model_inputs", "load_sample", "cache_dir", "activation_ranges"]
