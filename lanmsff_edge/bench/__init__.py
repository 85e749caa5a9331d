"""``lanmsff-edge bench``: what a model costs on a target, side by side with the float model.

One call, one table, a row per model and format (Ultralytics' benchmark shape)::

    report = run_bench(["lanmsff.keras", "mobilenet.tflite"], device="cpu", threads=1, dataset="ferplus",
                       data="ferplus.tar.gz", split="test")
    print(format_table(report)); write_json(report, "bench.json")

Devices: ``cpu`` (LiteRT + XNNPACK, Keras through TensorFlow), ``gpu`` (Keras on a TensorFlow-visible GPU),
``mcu`` (TFLite Micro on the host: op coverage, smallest arena, parity, board fit with a cycle ESTIMATE),
``coral`` (Edge TPU compatibility from Coral's published rules, edgetpu_compiler and delegate when present),
``android`` (TFLite's ``benchmark_model`` over adb: CPU threads, GPU delegate, NNAPI).

The float reference of the speed-up and size-ratio columns is the float Keras model where it was timed, else
the float32 TFLite model (only ``.tflite`` inputs, or Android where Keras does not run); see ``record.py``.
"""
import importlib

# public name -> module that defines it; loaded on first use, so the CLI can read ``bench.devices`` (the device
# table it parses with) without importing the runner
_EXPORTS = {"run_bench": "runner", "BenchReport": "record", "BenchResult": "record", "DEVICES": "settings",
            "format_table": "report", "to_markdown": "report", "write_json": "report", "write_markdown": "report",
            "write_plot": "plot"}

__all__ = sorted(_EXPORTS)


def __getattr__(name):
    if name in _EXPORTS:
        return getattr(importlib.import_module(f"lanmsff_edge.bench.{_EXPORTS[name]}"), name)
    raise AttributeError(f"module 'lanmsff_edge.bench' has no attribute {name!r}")
