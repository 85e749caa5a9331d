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
        if os.path.isfile(temporary):  # mkstemp makes 0600 files; give the artifact the usual permissions
            os.chmod(temporary, 0o666 & ~_umask())
        os.replace(temporary, path)
    finally:
        if os.path.exists(temporary):
            os.unlink(temporary)


def _umask():
    mask = os.umask(0)
    os.umask(mask)
    return mask


def write_bytes(path, data):
    with atomic_path(path) as temporary:
        temporary.write_bytes(data)


def write_text(path, text):
    with atomic_path(path) as temporary:
        temporary.write_text(text)
