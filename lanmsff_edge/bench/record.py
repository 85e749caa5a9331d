"""The result record: one ``BenchResult`` per table row, one ``BenchReport`` per bench run.

JSON schema (``BenchReport.to_dict``)::

    {"schema": "lanmsff-edge.bench/1", "device": "cpu", "host": {...}, "settings": {...}, "notes": [...],
     "reference": "<model of the float reference row>" | null,
     "results": [{"model", "path", "format", "precision", "runtime", "params", "macs", "size_bytes",
                  "latency_ms": {"mean", "p50", "p90", "p99", "std", "min", "max", "runs"} | null,
                  "images_per_s", "accuracy", "information_density", "speedup_vs_float", "size_ratio_vs_float",
                  "vs_float": {"images", "lost", "gained", "agreement", "p_value"} | null,
                  "is_reference", "error", "notes", ...target-specific fields (arena_bytes, edgetpu, android...)}]}

Speed-up and size ratio compare each row with the float reference row (see ``choose_reference``):
``speedup_vs_float = reference latency p50 / row latency p50`` (medians: robust to a shared machine's spikes;
the mean where a tool reports no median) and
``size_ratio_vs_float = reference size_bytes / row size_bytes`` (how many times smaller the row is).
With a data set, ``vs_float`` compares each row's predictions with the reference's on the same images (images
lost and gained, exact McNemar p-value; see ``evaluation.paired_comparison``): whether an accuracy difference is
more than chance.
"""
from dataclasses import dataclass, field

SCHEMA = "lanmsff-edge.bench/1"


@dataclass
class BenchResult:
    """One row: a model in one format on one runtime. ``extra`` holds the target-specific fields."""

    model: str
    path: str
    format: str  # "keras" | "tflite"
    precision: str  # "float32" | "int8" | "uint8" | "float16" | "dynamic-int8" | "mixed"
    runtime: str  # where it ran, e.g. "LiteRT 2.3 XNNPACK, 1 thread (host CPU)"
    params: int | None = None
    macs: int | None = None
    size_bytes: int | None = None
    latency: object = None  # timing.Latency or None when the row was not timed
    accuracy: float | None = None
    information_density: float | None = None
    speedup_vs_float: float | None = None
    size_ratio_vs_float: float | None = None
    is_reference: bool = False
    compare_speed: bool = True  # False: its time is not comparable with the reference's (TFLM host kernels)
    vs_float: dict | None = None
    error: str | None = None
    notes: list = field(default_factory=list)
    extra: dict = field(default_factory=dict)
    predictions: object = field(default=None, repr=False)  # predicted classes on the data set (not serialised)

    @property
    def is_float(self):
        return self.precision == "float32"

    @property
    def latency_ms(self):
        return None if self.latency is None else self.latency.typical

    def to_dict(self):
        record = {
            "model": self.model,
            "path": self.path,
            "format": self.format,
            "precision": self.precision,
            "runtime": self.runtime,
            "params": self.params,
            "macs": self.macs,
            "size_bytes": self.size_bytes,
            "latency_ms": None if self.latency is None else self.latency.to_dict(),
            "images_per_s": None if self.latency is None else _round(self.latency.images_per_s),
            "accuracy": _round(self.accuracy),
            "information_density": _round(self.information_density),
            "speedup_vs_float": _round(self.speedup_vs_float),
            "size_ratio_vs_float": _round(self.size_ratio_vs_float),
            "vs_float": self.vs_float,
            "is_reference": self.is_reference,
            "error": self.error,
            "notes": list(self.notes),
        }
        for key, value in self.extra.items():
            if key in record:
                raise KeyError(f"target field {key!r} would overwrite a common field")
            record[key] = value
        return record


def _round(value, digits=6):
    return None if value is None else round(float(value), digits)


def choose_reference(results):
    """The float reference row: the first timed float Keras row, else the first timed float32 TFLite row, else
    (sizes only) the first float row.

    The issue asks for the float Keras model as the reference; where Keras cannot run on the target (android)
    or was not given (only .tflite files), the float32 TFLite model stands in, so a ratio is still shown. Rows
    whose times are not comparable (``compare_speed`` False: TFLite Micro's host kernels) never give the speed.
    """
    usable = sorted((r for r in results if r.is_float and r.error is None), key=lambda r: r.format != "keras")
    timed = [r for r in usable if r.latency is not None and r.compare_speed]
    return (timed or usable or [None])[0]


def attach_ratios(results, labels=None):
    """Mark the reference row and fill ``speedup_vs_float`` / ``size_ratio_vs_float`` of every row (and, given the
    data set's ``labels``, ``vs_float``); returns the reference."""
    from lanmsff_edge.evaluation import paired_comparison

    reference = choose_reference(results)
    timed_reference = reference is not None and reference.latency is not None and reference.compare_speed
    for row in results:
        row.is_reference = row is reference
        row.speedup_vs_float = None
        row.size_ratio_vs_float = None
        row.vs_float = None
        if reference is None or row.error is not None:
            continue
        if timed_reference and row.compare_speed and row.latency is not None and row.latency.typical > 0:
            row.speedup_vs_float = reference.latency.typical / row.latency.typical
        if reference.size_bytes and row.size_bytes:
            row.size_ratio_vs_float = reference.size_bytes / row.size_bytes
        if (labels is not None and row is not reference and row.predictions is not None
                and reference.predictions is not None):
            row.vs_float = paired_comparison(labels, row.predictions, reference.predictions)
    return reference


@dataclass
class BenchReport:
    device: str
    host: dict
    settings: dict
    results: list
    notes: list = field(default_factory=list)
    tables: dict = field(default_factory=dict)  # extra per-target tables, e.g. {"boards": [...]} for mcu

    @property
    def reference(self):
        return next((r for r in self.results if r.is_reference), None)

    def to_dict(self):
        reference = self.reference
        return {
            "schema": SCHEMA,
            "device": self.device,
            "host": self.host,
            "settings": self.settings,
            "reference": None if reference is None else f"{reference.model} [{reference.format}]",
            "notes": list(self.notes),
            "results": [row.to_dict() for row in self.results],
            **self.tables,
        }
