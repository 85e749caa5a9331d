"""Peak-memory reduction of int8 ``.tflite`` models for TensorFlow Lite Micro, on the flatbuffer itself.

``patches.split(data, n)`` runs the regions holding the memory peak (row-local ops: convolutions of any stride,
VALID or SAME pools, element-wise ops, residual adds, channel concatenations) in ``n`` row stripes with halos;
``schedule.reorder(data)`` moves side branches that end in a small tensor (LANMSFF's PWFS → GAP fusion paths)
next to their inputs; ``offline_plan.embed`` stores a memory plan; ``fit.fit(data, max_arena)`` picks the first
variant whose measured TFLM arena fits, or names the floor. Every rewrite keeps the model's integers: same
weights, same quantization, padding only at the true image border, so outputs are bit-identical to the original.
"""
