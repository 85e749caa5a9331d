"""``train --precision``: float32 or Keras' ``mixed_bfloat16`` (bfloat16 compute, float32 weights).

bfloat16 pays only where the hardware computes it: CPUs with AVX512_BF16 or AMX (oneDNN's bf16 kernels) and GPUs.
Elsewhere TensorFlow emulates it and a train step is several times *slower* (``benchmarks/train_throughput.py``
measures both on the machine at hand), so the default is chosen from the CPU's flags. The variables stay float32
either way, so checkpoints, ``model.keras`` and QAT are the same as a float32 run's; only the head's softmax is
kept in float32 under the mixed policy (numerically safer, as Keras' guide advises).
"""
from contextlib import contextmanager
from pathlib import Path

from lanmsff_edge.errors import UserError

PRECISIONS = ("float32", "mixed_bfloat16")
BF16_CPU_FLAGS = ("avx512_bf16", "amx_bf16")


def cpu_flags(cpuinfo=Path("/proc/cpuinfo")):
    """The CPU feature flags the kernel reports (empty where /proc/cpuinfo is absent or unreadable)."""
    try:
        text = Path(cpuinfo).read_text(errors="replace")
    except OSError:
        return set()
    for line in text.splitlines():
        if line.startswith("flags"):
            return set(line.partition(":")[2].split())
    return set()


def default_precision(flags=None, gpus=None):
    """``mixed_bfloat16`` on a GPU or a CPU with native bfloat16 arithmetic, else ``float32``."""
    if gpus is None:
        from lanmsff_edge.keras import tf

        gpus = tf.config.list_physical_devices("GPU")
    flags = cpu_flags() if flags is None else set(flags)
    return "mixed_bfloat16" if gpus or flags & set(BF16_CPU_FLAGS) else "float32"


def check_precision(precision):
    if precision not in PRECISIONS:
        raise UserError(f"unknown --precision {precision!r}: choose one of {', '.join(PRECISIONS)}")
    return precision


@contextmanager
def policy(precision):
    """Keras' global dtype policy set to ``precision`` while models are built inside, restored afterwards."""
    from lanmsff_edge.keras import keras

    previous = keras.mixed_precision.global_policy()
    keras.mixed_precision.set_global_policy(check_precision(precision))
    try:
        yield
    finally:
        keras.mixed_precision.set_global_policy(previous)
