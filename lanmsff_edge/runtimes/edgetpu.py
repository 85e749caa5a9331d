"""The Edge TPU as a runtime: a compiled ``.tflite`` in LiteRT with the ``libedgetpu`` delegate, loaded through the
same package chain as every LiteRT model (``litert.interpreter_class``). Which ops map onto the TPU, from the
flatbuffer alone: ``edgetpu_rules``."""
import gc
import sys

EDGETPU_LIBRARY = "libedgetpu.so.1"


def _one_line(error):
    return " ".join(str(error).split()) or type(error).__name__


def load_edgetpu_delegate():
    """(delegate, None) when ``libedgetpu.so.1`` loads, else (None, why)."""
    from lanmsff_edge.errors import UserError
    from lanmsff_edge.runtimes.litert import load_delegate

    hook = sys.unraisablehook
    sys.unraisablehook = lambda _: None  # LiteRT's half-built Delegate complains from __del__ when loading fails
    try:
        return load_delegate(EDGETPU_LIBRARY), None
    except UserError:  # no LiteRT package at all
        return None, "no LiteRT with load_delegate installed"
    except (ValueError, OSError, RuntimeError) as error:
        return None, f"{EDGETPU_LIBRARY} did not load ({_one_line(error)}): install libedgetpu1-std and plug in a Coral"
    finally:
        gc.collect()
        sys.unraisablehook = hook


def open_edgetpu(data, delegate, num_threads=None):
    """A ``LiteRTRuntime`` running the Edge TPU-compiled flatbuffer ``data`` on ``delegate``."""
    from lanmsff_edge.runtimes.litert import LiteRTRuntime

    runtime = LiteRTRuntime(data, num_threads=num_threads, delegates=[delegate])
    runtime.backend = f"{runtime.backend} + libedgetpu"
    return runtime
