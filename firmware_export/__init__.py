"""TensorFlow Lite Micro firmware bundles: an int8 ``.tflite`` → C++ sources, settings, golden self-test vector,
example ``setup()`` (with the self-test) / ``loop()`` (get → invoke → respond), platform hooks with weak defaults
(``image_provider``, ``expression_responder``), README and manifest, in the shape of TFLite Micro's own examples.

    from lanmsff_edge.firmware_export import export_firmware
    bundle = export_firmware("lanmsff_int8.tflite", "fw/", name="lanmsff", layout="cmake")
"""
from lanmsff_edge.firmware_export.bundle import LAYOUTS, Bundle, export_firmware

__all__ = ["LAYOUTS", "Bundle", "export_firmware"]
