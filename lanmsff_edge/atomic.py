"""Write files so a crash, a kill or a full disk never leaves a half-written artifact, nor a mix of old and new ones.

One file is written beside its destination under a hidden temporary name, then renamed over it (a rename is atomic).
Inside ``artifact_group()`` the renames wait until every file of the group is written; then a journal listing
them is put in place and they are renamed together. A process killed between those renames leaves the journal,
and the next write into that folder finishes them: either all files of a group are new or all are old.
Temporaries carry the writer's process id; those of a process that is gone (killed mid-write) are removed by the
next write into their folder. Any OS error on the way is a ``WriteError``: "cannot write PATH: reason".
"""
import contextlib
import contextvars
import errno
import json
import os
import re
import tempfile
from pathlib import Path

from lanmsff_edge.errors import WriteError

JOURNAL_PREFIX = ".lanmsff-group."
_TEMPORARY = re.compile(r"^\..+\.(\d+)\.[a-z0-9_]{8}(\.[^.]+)?$")  # .<stem>.<pid>.<mkstemp's 8 characters><suffix>
_group = contextvars.ContextVar("artifact_group", default=None)


@contextlib.contextmanager
def atomic_path(path):
    """Yield a temporary path in the destination's folder; on success it replaces ``path`` (at once, or with the
    rest of the ``artifact_group`` being written).

    Keeps the suffix so writers that infer a format from it (``.keras``, ``.png``) still work.
    """
    path = Path(path)
    temporary = None
    try:
        if path.is_dir():
            raise IsADirectoryError(errno.EISDIR, "a folder of that name is in the way", str(path))
        _make_folder(path.parent)
        tidy(path.parent)
        handle, name = tempfile.mkstemp(prefix=f".{path.stem}.{os.getpid()}.", suffix=path.suffix, dir=path.parent)
        os.close(handle)
        temporary = Path(name)
        yield temporary
        if temporary.is_file():  # mkstemp makes 0600 files; give the artifact the usual permissions
            os.chmod(temporary, 0o666 & ~_umask())
        staged = _group.get()
        if staged is None:
            os.replace(temporary, path)
        else:
            staged.append((temporary, path))
            temporary = None  # the group renames or removes it
    except OSError as error:
        raise WriteError(f"cannot write {path}: {error.strerror or error}") from None
    finally:
        if temporary is not None and os.path.lexists(temporary):
            os.unlink(temporary)


@contextlib.contextmanager
def artifact_group():
    """Every ``atomic_path`` write inside the block takes effect together when the block ends, or none does.

    Nested groups join the outer one.
    """
    if _group.get() is not None:
        yield
        return
    staged = []
    token = _group.set(staged)
    try:
        yield
        _group.reset(token)
        token = None
        _commit(staged)
    finally:
        if token is not None:
            _group.reset(token)
        for temporary, _ in staged:
            if os.path.lexists(temporary):
                os.unlink(temporary)


def _commit(staged):
    if not staged:
        return
    renames = [(str(temporary.resolve()), str(path.resolve())) for temporary, path in staged]
    folder = staged[0][1].parent
    journal = folder / f"{JOURNAL_PREFIX}{os.getpid()}.json"
    try:
        with atomic_path(journal) as temporary:
            temporary.write_text(json.dumps(renames), encoding="utf-8")
    except WriteError as error:
        raise WriteError(f"cannot write {staged[0][1]}: {str(error).split(': ', 1)[-1]}") from None
    for (temporary, target), (_, path) in zip(renames, staged):
        try:
            os.replace(temporary, target)
        except OSError as error:
            journal.unlink(missing_ok=True)
            raise WriteError(f"cannot write {path}: {error.strerror or error}") from None
    journal.unlink()


def tidy(folder):
    """Finish the groups and remove the temporaries that processes no longer running left in ``folder``."""
    try:
        names = sorted(entry.name for entry in os.scandir(folder) if entry.name.startswith("."))
    except OSError:
        return
    for name in names:
        if name.startswith(JOURNAL_PREFIX) and name.endswith(".json") and not _alive(name[len(JOURNAL_PREFIX):-5]):
            _finish_group(Path(folder) / name)
    for name in names:
        match = _TEMPORARY.match(name)
        if match and not _alive(match.group(1)):
            with contextlib.suppress(OSError):
                os.unlink(Path(folder) / name)


def _finish_group(journal):
    with contextlib.suppress(OSError, ValueError):
        for temporary, target in json.loads(journal.read_text(encoding="utf-8")):
            if os.path.lexists(temporary):
                os.replace(temporary, target)
    with contextlib.suppress(OSError):
        journal.unlink()


def _alive(pid):
    try:
        os.kill(int(pid), 0)
    except ProcessLookupError:
        return False
    except (PermissionError, ValueError, OverflowError):
        return True  # someone else's process, or not a process id: leave its files alone
    return True


def _make_folder(folder):
    """``folder`` and its parents; a file standing where a folder should be is named in the error."""
    try:
        folder.mkdir(parents=True, exist_ok=True)
    except (FileExistsError, NotADirectoryError):
        blocking = next((p for p in [folder, *folder.parents] if p.exists() and not p.is_dir()), folder)
        raise NotADirectoryError(errno.ENOTDIR, f"{blocking} is a file, not a folder", str(folder)) from None


def _umask():
    mask = os.umask(0)
    os.umask(mask)
    return mask


def write_bytes(path, data):
    with atomic_path(path) as temporary:
        temporary.write_bytes(data)


def write_text(path, text):
    with atomic_path(path) as temporary:
        temporary.write_text(text, encoding="utf-8")
