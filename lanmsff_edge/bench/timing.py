"""The timing loop: warm up, then time single calls and summarise them (batch 1, wall clock, milliseconds)."""
import time
from dataclasses import asdict, dataclass

import numpy as np


@dataclass
class Latency:
    """Per-call latency in milliseconds over ``runs`` timed calls (after the warm-up calls, which are not kept).
    Percentiles are None where a tool does not report them (Android's benchmark_model)."""

    mean: float
    p50: float
    p90: float
    p99: float
    std: float
    min: float
    max: float
    runs: int

    @property
    def typical(self):
        """The median when known (benchmark_model reports none), else the mean."""
        return self.p50 if self.p50 is not None else self.mean

    @property
    def images_per_s(self):
        return 1000.0 / self.mean if self.mean > 0 else None

    def to_dict(self):
        return {key: (round(value, 6) if isinstance(value, float) else value) for key, value in asdict(self).items()}

    @classmethod
    def from_samples(cls, samples_ms):
        samples = np.asarray(samples_ms, dtype=np.float64)
        if samples.size == 0:
            raise ValueError("no timing samples")
        p50, p90, p99 = np.percentile(samples, [50, 90, 99])
        return cls(mean=float(samples.mean()), p50=float(p50), p90=float(p90), p99=float(p99),
                   std=float(samples.std()), min=float(samples.min()), max=float(samples.max()),
                   runs=int(samples.size))


def time_calls(call, runs, warmup):
    """Call ``call()`` ``warmup`` times untimed, then ``runs`` times timed one by one; returns a ``Latency``.

    ``call`` must finish its work before returning (fetch the output), so the clock sees the whole inference.
    """
    if runs < 1:
        raise ValueError(f"runs must be at least 1, got {runs}")
    for _ in range(max(0, warmup)):
        call()
    samples = []
    clock = time.perf_counter_ns
    for _ in range(runs):
        start = clock()
        call()
        samples.append((clock() - start) / 1e6)
    return Latency.from_samples(samples)
