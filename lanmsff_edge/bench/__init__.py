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
from lanmsff_edge.bench.record import BenchReport, BenchResult
from lanmsff_edge.bench.runner import run_bench
from lanmsff_edge.bench.settings import DEVICES

__all__ = ["run_bench", "BenchReport", "BenchResult", "DEVICES", "format_table", "to_markdown", "write_json",
           "write_markdown", "write_plot"]


def __getattr__(name):
    if name in ("format_table", "to_markdown", "write_json", "write_markdown"):
        from lanmsff_edge.bench import report

        return getattr(report, name)
    if name == "write_plot":
        from lanmsff_edge.bench.plot import write_plot

        return write_plot
    raise AttributeError(f"module 'lanmsff_edge.bench' has no attribute {name!r}")
