"""What a bench run was asked to do; passed to every device module."""
from dataclasses import dataclass, field

DEVICES = ("cpu", "gpu", "mcu", "coral", "android")
DEFAULT_RUNS = {"cpu": 100, "gpu": 100, "mcu": 5, "coral": 100, "android": 50}
DEFAULT_WARMUP = {"cpu": 10, "gpu": 10, "mcu": 1, "coral": 10, "android": 5}
ANDROID_DELEGATES = ("cpu", "gpu", "nnapi")


@dataclass
class BenchSettings:
    device: str = "cpu"
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
    progress: object = None  # callable(str) for one-line progress messages, or None
    mapping_only: bool = False  # coral: the op mapping without an Edge TPU (no timing)
    extra: dict = field(default_factory=dict)

    def __post_init__(self):
        if self.runs is None:
            self.runs = DEFAULT_RUNS[self.device]
        if self.warmup is None:
            self.warmup = DEFAULT_WARMUP[self.device]

    def say(self, message):
        if self.progress is not None:
            self.progress(message)

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
