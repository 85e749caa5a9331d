"""Write files so a crash, a kill or a full disk never leaves a half-written artifact, nor a mix of old and new ones.

One file is written beside its destination under a hidden temporary name, then renamed over it (a rename is atomic).
Inside ``artifact_group()`` the renames wait until every file of the group is written; then a journal listing
them is put in place and they are renamed together. A process killed between those renames leaves the journal,
and the next write into that folder finishes them: either all files of a group are new or all are old.
Temporaries carry the writer's process id; those of a process that is gone (killed mid-write) are removed by the
next write into their folder. Readers call ``settle(folder)`` before reading a group's files: it finishes the
journal of a writer that is gone (or waits for a live one), so a reader never sees half a group.
``replace_folder`` swaps a whole staged folder into place under the same kind of journal (a bundle directory).
Any OS error on the way is a ``WriteError``: "cannot write PATH: reason".
"""
import contextlib
import contextvars
import errno
import json
import os
import re
import shutil
import tempfile
import time
from pathlib import Path

from lanmsff_edge.errors import UserError, WriteError

JOURNAL_PREFIX = ".lanmsff-group."
SWAP_PREFIX = ".lanmsff-swap."
_TEMPORARY = re.compile(r"^\..+\.(\d+)\.[a-z0-9_]{8}(\.[^.]+)?$")  # .<stem>.<pid>.<mkstemp's 8 characters><suffix>
_STAGED_FOLDER = (".partial", ".retired")  # suffixes of the folders replace_folder stages (removed when stale)
_settled = set()  # folders this process has already settled
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
    """Finish the groups and folder swaps, and remove the temporaries, that processes no longer running left in
    ``folder``."""
    try:
        names = sorted(entry.name for entry in os.scandir(folder) if entry.name.startswith("."))
    except OSError:
        return
    for name in names:
        if name.startswith(JOURNAL_PREFIX) and name.endswith(".json") and not _alive(name[len(JOURNAL_PREFIX):-5]):
            _finish_group(Path(folder) / name)
        if name.startswith(SWAP_PREFIX) and name.endswith(".json") and not _alive(name[len(SWAP_PREFIX):-5]):
            _finish_swap(Path(folder) / name)
    for name in names:
        match = _TEMPORARY.match(name)
        if match and not _alive(match.group(1)):
            path = Path(folder) / name
            with contextlib.suppress(OSError):
                if path.is_dir() and not path.is_symlink():
                    if name.endswith(_STAGED_FOLDER):
                        shutil.rmtree(path)
                else:
                    os.unlink(path)


def settle(folder, wait=10.0):
    """Before reading files of ``folder``: finish what a killed writer left half done there (its journal), or wait
    up to ``wait`` seconds for a live writer's commit to end, so a reader never sees a mix of old and new files.

    A journal that cannot be finished (a read-only folder) is a ``UserError`` naming it: reading on would mix
    two versions. Cheap after the first call per folder and process.
    """
    folder = Path(folder)
    key = str(folder.absolute())
    if key in _settled:
        return
    deadline = time.monotonic() + wait
    while True:
        open_journals = _journals(folder)
        if open_journals:
            tidy(folder)
            open_journals = _journals(folder)
        if not open_journals:
            _settled.add(key)
            return
        live = [(name, pid) for name, pid in open_journals if _alive(pid)]
        if live and time.monotonic() > deadline:
            raise UserError(f"{folder / live[0][0]}: process {live[0][1]} is still committing files here; wait for "
                            "it to finish (or, if that process is not lanmsff-edge, remove this journal)")
        if not live:
            raise UserError(f"{folder / open_journals[0][0]}: an interrupted write left this folder half updated "
                            "and the rest cannot be completed here (is the folder read-only?); run the command "
                            "again with write access, or remove the folder's hidden .lanmsff-* files")
        time.sleep(0.05)


def _journals(folder):
    try:
        names = [entry.name for entry in os.scandir(folder)]
    except OSError:
        return []
    return [(name, name.split(".")[-2]) for name in names
            if name.startswith((JOURNAL_PREFIX, SWAP_PREFIX)) and name.endswith(".json")]


def replace_folder(staging, out):
    """Put the complete folder ``staging`` (a sibling of ``out``, named by ``staging_folder``) at ``out``,
    replacing an earlier one. A journal records the swap first, so a process killed between the two renames is
    completed by the next ``tidy``/``settle`` of the parent folder: ``out`` ends up old or new, never missing.
    """
    staging, out = Path(staging).absolute(), Path(out).absolute()
    if not os.path.lexists(out):
        os.replace(staging, out)
        return
    retired = out.parent / f".{out.name}.{os.getpid()}.{os.urandom(4).hex()}.retired"
    journal = out.parent / f"{SWAP_PREFIX}{os.getpid()}.json"
    write_text(journal, json.dumps({"staging": str(staging), "out": str(out), "retired": str(retired)}))
    os.replace(out, retired)
    try:
        os.replace(staging, out)
    except OSError:
        os.replace(retired, out)
        journal.unlink(missing_ok=True)
        raise
    journal.unlink()
    shutil.rmtree(retired, ignore_errors=True)


def staging_folder(out):
    """A new empty hidden folder beside ``out`` for ``replace_folder``; removed by ``tidy`` if its process dies."""
    out = Path(out).absolute()
    _make_folder(out.parent)
    tidy(out.parent)
    return Path(tempfile.mkdtemp(prefix=f".{out.name}.{os.getpid()}.", suffix=".partial", dir=out.parent))


def _finish_swap(journal):
    """Complete a folder swap whose process died: the staged folder still there means the second rename is due."""
    with contextlib.suppress(OSError, ValueError, KeyError, TypeError):
        record = json.loads(journal.read_text(encoding="utf-8"))
        staging, out, retired = (Path(record[key]) for key in ("staging", "out", "retired"))
        if staging.is_dir():
            if os.path.lexists(out) and not os.path.lexists(retired):
                os.replace(out, retired)
            os.replace(staging, out)
        shutil.rmtree(retired, ignore_errors=True)
    with contextlib.suppress(OSError):
        journal.unlink()


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
