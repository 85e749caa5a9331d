"""Files the user hands to the tools (models, data sets, label.csv, photos, JSON): opened so that nothing blocks or
floods memory, and finished by ``atomic.settle`` so a half-committed group is never read.

A FIFO, a device (``/dev/zero``), a socket is refused before it is read: opening a FIFO blocks until a writer
comes, and a device never ends. Opening uses ``O_NONBLOCK`` and checks the opened descriptor, so a file swapped
for a FIFO after a check cannot block either. Reads are bounded: a file larger than its kind's limit is a
``UserError``, not an out-of-memory kill. Every problem is a ``UserError`` naming the file.
"""
import contextlib
import errno
import os
import stat
from pathlib import Path

from lanmsff_edge.errors import UserError

MB = 1 << 20
LIMITS = {  # bytes; far above any real file of the kind, far below what would exhaust memory
    "model": 2048 * MB,
    "text": 256 * MB,   # label.csv, label lists, JSON
    "image": 256 * MB,
}


def special_kind(mode):
    """"a FIFO", "a character device"… for a ``st_mode`` that is not a regular file or folder, else None."""
    for test, kind in ((stat.S_ISFIFO, "a FIFO (named pipe)"), (stat.S_ISCHR, "a character device"),
                       (stat.S_ISBLK, "a block device"), (stat.S_ISSOCK, "a socket")):
        if test(mode):
            return kind
    return None


def check_input(path, what="", folder_ok=True):
    """Refuse ``path`` unless it is a regular file (or, with ``folder_ok``, a folder); returns it as a ``Path``.
    A missing file is ``FileNotFoundError``'s business (the caller words it)."""
    path = Path(path)
    if "\0" in str(path):
        raise UserError(f"{what + ' ' if what else ''}{str(path)!r}: a path cannot hold a NUL character")
    mode = os.stat(path).st_mode
    kind = special_kind(mode)
    if kind is not None:
        raise UserError(f"{what + ' ' if what else ''}{path} is {kind}, not a regular file; give a file"
                        f"{' or folder' if folder_ok else ''}")
    if stat.S_ISDIR(mode) and not folder_ok:
        raise UserError(f"{what + ' ' if what else ''}{path} is a folder, not a file")
    return path


@contextlib.contextmanager
def open_binary(path, what=""):
    """Open a regular file for reading without ever blocking on a FIFO or device (checked on the descriptor)."""
    path = Path(path)
    check_input(path, what, folder_ok=False)
    descriptor = os.open(path, os.O_RDONLY | getattr(os, "O_NONBLOCK", 0) | getattr(os, "O_CLOEXEC", 0))
    try:
        mode = os.fstat(descriptor).st_mode
        if not stat.S_ISREG(mode):
            raise UserError(f"{what + ' ' if what else ''}{path} is {special_kind(mode) or 'not a regular file'}, "
                            "not a regular file")
        if hasattr(os, "set_blocking"):
            os.set_blocking(descriptor, True)
        handle = os.fdopen(descriptor, "rb")
    except BaseException:
        os.close(descriptor)
        raise
    with handle:
        yield handle


def read_bytes(path, kind="text", limit=None, what=""):
    """The bytes of a user's file, at most ``limit`` (default: ``LIMITS[kind]``); settles the folder first."""
    from lanmsff_edge import atomic

    path = Path(path)
    limit = LIMITS[kind] if limit is None else limit
    check_input(path, what, folder_ok=False)
    with contextlib.suppress(OSError):
        atomic.settle(path.parent)
    with open_binary(path, what) as handle:
        size = os.fstat(handle.fileno()).st_size
        if size > limit:
            raise _too_large(path, limit, what)
        data = handle.read(limit + 1)
    if len(data) > limit:
        raise _too_large(path, limit, what)
    return data


def _too_large(path, limit, what):
    return UserError(f"{what + ' ' if what else ''}{path} is larger than {limit // MB:,} MB, more than any such file "
                     "should be; is it the right file?")


def is_missing(error):
    return isinstance(error, FileNotFoundError) or getattr(error, "errno", None) == errno.ENOENT
