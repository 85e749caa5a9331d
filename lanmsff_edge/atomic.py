"""Write files so a crash or Ctrl-C never leaves a half-written artifact: write beside, then rename."""
import contextlib
import os
import tempfile
from pathlib import Path


@contextlib.contextmanager
def atomic_path(path):
    """Yield a temporary path in the destination's folder; on success rename it over ``path``.

    Keeps the suffix so writers that infer a format from it (``.keras``, ``.png``) still work.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    handle, temporary = tempfile.mkstemp(prefix=f".{path.stem}.", suffix=path.suffix, dir=path.parent)
    os.close(handle)
    try:
        yield Path(temporary)
        os.replace(temporary, path)
    finally:
        if os.path.exists(temporary):
            os.unlink(temporary)


def write_bytes(path, data):
    with atomic_path(path) as temporary:
        temporary.write_bytes(data)


def write_text(path, text):
    with atomic_path(path) as temporary:
        temporary.write_text(text)
