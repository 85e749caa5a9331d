"""Peak-memory reduction of int8 ``.tflite`` models for TensorFlow Lite Micro, on the flatbuffer itself.

``patches.split_stem(model, n)`` runs the model's high-resolution stem (the chain of convolutions and pooling
from the input) in ``n`` row stripes with halos; ``schedule.reorder(model)`` moves side branches that end in a
small tensor (LANMSFF's PWFS → GAP fusion paths) next to their inputs; ``fit.plan(model, max_arena)`` picks the
smallest stripe count whose measured TFLM arena fits. Every rewrite keeps the model's integers: same weights,
same quantization, zero padding only at the true image border, so outputs are bit-identical to the original.
"""
