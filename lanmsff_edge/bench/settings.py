"""What a bench run was asked to do; passed to every device module."""
from dataclasses import dataclass, field

from lanmsff_edge.bench import devices

# views of the one table in devices.py
DEVICES = tuple(devices.DEVICES)
DEFAULT_RUNS = {name: device.runs for name, device in devices.DEVICES.items()}
DEFAULT_WARMUP = {name: device.warmup for name, device in devices.DEVICES.items()}
ANDROID_DELEGATES = tuple(devices.ANDROID_DELEGATES)


@dataclass
class BenchSettings:
    device: str = devices.DEFAULT_DEVICE
    threads: int = 1
    runs: int | None = None
    warmup: int | None = None
    data: object = None  # LabeledImages or None
    fold: int | None = None  # KDEF cross-validation fold the data is from
    keras_threads: int | None = None  # what TensorFlow really uses (see measure.configure_tf_threads)
    benchmark_binary: str | None = None
    android_serial: str | None = None
    android_delegates: tuple = ANDROID_DELEGATES
    command_runner: object = None  # injectable subprocess runner (adb, edgetpu_compiler); see android.py
    mapping_only: bool = False  # coral: the op mapping without an Edge TPU (no timing)
    extra: dict = field(default_factory=dict)

    def __post_init__(self):
        if self.runs is None:
            self.runs = DEFAULT_RUNS[self.device]
        if self.warmup is None:
            self.warmup = DEFAULT_WARMUP[self.device]

    def to_dict(self):
        data = self.data
        return {
            "threads": self.threads,
            "keras_threads": self.keras_threads,
            "runs": self.runs,
            "warmup": self.warmup,
            "batch": 1,
            "dataset": None if data is None else data.dataset,
            "split": None if data is None else data.split,
            "fold": self.fold,
            "images": None if data is None else len(data),
            "skipped": None if data is None else int(data.skipped),
            "mapping_only": self.mapping_only,
        }
