"""The bench targets, one table: name → the module that runs it, its default runs and warm-up, its help.

``bench --device``'s choices, defaults and help text, ``lanmsff-edge --help``'s line and the dispatch in
``runner.run_bench`` all read ``DEVICES`` (as Ultralytics' export-formats table drives its exporter). No
TensorFlow here: the CLI reads it while parsing.
"""
from dataclasses import dataclass


@dataclass(frozen=True)
class Device:
    module: str  # lanmsff_edge.bench.<module>: run(models, settings) -> (rows, notes, tables)
    runs: int  # timed runs per model by default
    warmup: int  # untimed warm-up runs by default
    help: str


DEVICES = {
    "cpu": Device("lanmsff_edge.bench.cpu", 100, 10, "the host CPU (Keras through TensorFlow, TFLite through LiteRT)"),
    "gpu": Device("lanmsff_edge.bench.gpu", 100, 10, "Keras models on a GPU TensorFlow sees"),
    "mcu": Device("lanmsff_edge.bench.mcu", 5, 1, "TFLite Micro on the host (arena, parity, board fit)"),
    "coral": Device("lanmsff_edge.bench.coral", 100, 10, "a Coral Edge TPU (or its op mapping alone)"),
    "android": Device("lanmsff_edge.bench.android", 50, 5, "a phone over adb (TFLite's benchmark_model)"),
}
DEFAULT_DEVICE = "cpu"


@dataclass(frozen=True)
class Delegate:
    flags: tuple  # benchmark_model flags
    label: str  # as the report names it


ANDROID_DELEGATES = {
    "cpu": Delegate((), "CPU (XNNPACK)"),
    "gpu": Delegate(("--use_gpu=true",), "GPU delegate"),
    "nnapi": Delegate(("--use_nnapi=true",), "NNAPI"),
}


def names_text(last="or"):
    """``cpu, gpu, mcu, coral or android``."""
    names = list(DEVICES)
    return f"{', '.join(names[:-1])} {last} {names[-1]}"


def defaults_text(field):
    """``cpu/gpu/coral 100, mcu 5, android 50``: the devices grouped by their default ``field`` (runs, warmup)."""
    groups = {}
    for name, device in DEVICES.items():
        groups.setdefault(getattr(device, field), []).append(name)
    return ", ".join(f"{'/'.join(names)} {value}" for value, names in groups.items())


def device_help():
    """The ``--device`` help: one clause per target."""
    return "Target: " + "; ".join(f"{name}: {device.help}" for name, device in DEVICES.items()) + "."
