"""Read a data set where the user keeps it: a directory, or the .tar.gz / .tar / .zip archive as downloaded.

A ``Source`` lists its files by relative POSIX path and streams their bytes; archives are read in one sequential
pass (no unpacking to disk). ``find_root`` locates the data set's own top folder however deep the copy nests it.
"""
import contextlib
import csv
import io
import os
import tarfile
import zipfile
import zlib
from pathlib import Path

from lanmsff_edge import userfiles
from lanmsff_edge.errors import UserError
from lanmsff_edge.text import utf8_lines

IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".bmp", ".tif", ".tiff")


def is_image_name(name):
    return name.lower().endswith(IMAGE_SUFFIXES)


class DirectorySource:
    def __init__(self, path):
        self.path = Path(path)
        self._files = None

    def files(self):
        if self._files is None:
            found, seen = [], set()
            for folder, subfolders, names in os.walk(self.path, followlinks=True):  # a linked split folder counts
                real = os.path.realpath(folder)
                if real in seen:  # a link back up the tree: walked once
                    subfolders[:] = []
                    continue
                seen.add(real)
                subfolders[:] = sorted(s for s in subfolders if not s.startswith("."))
                relative = Path(folder).relative_to(self.path).as_posix()
                prefix = "" if relative == "." else relative + "/"
                found.extend(prefix + name for name in names if not name.startswith("."))
            self._files = sorted(found)
        return self._files

    def open(self, name):
        return userfiles.open_binary(self.path / name)

    def iter_bytes(self, names):
        """(name, bytes) per file; None for one that cannot be read (missing, a FIFO or device, too large)."""
        for name in names:
            try:
                with userfiles.open_binary(self.path / name) as handle:
                    data = handle.read(userfiles.LIMITS["image"] + 1)
                yield name, (data if len(data) <= userfiles.LIMITS["image"] else None)
            except (OSError, ValueError, UserError):
                yield name, None

    def describe(self, name=""):
        return str(self.path / name) if name else str(self.path)


class TarSource:
    def __init__(self, path):
        self.path = Path(path)
        self._files = None

    def files(self):
        if self._files is None:
            try:
                with tarfile.open(self.path, "r:*") as archive:
                    self._files = sorted(_member_name(m) for m in archive.getmembers() if m.isfile())
            except (tarfile.TarError, OSError, EOFError, zlib.error) as error:
                raise UserError(f"{self.path}: unreadable archive ({error})") from None
        return self._files

    @contextlib.contextmanager
    def open(self, name):
        """A stream of one member, read in a single pass (fine for the CSV files this is used for)."""
        try:
            with tarfile.open(self.path, "r|*") as archive:
                for member in archive:
                    if member.isfile() and _member_name(member) == name:
                        yield io.BufferedReader(_ForwardOnly(archive.extractfile(member)))
                        return
        except (tarfile.TarError, EOFError, zlib.error) as error:
            raise UserError(f"{self.path}: unreadable archive ({error})") from None
        raise UserError(f"{self.path}: no member {name}")

    def iter_bytes(self, names):
        """One streaming pass over the archive, yielding the wanted members in archive order."""
        wanted = set(names)
        try:
            with tarfile.open(self.path, "r|*") as archive:
                for member in archive:
                    name = _member_name(member)
                    if member.isfile() and name in wanted:
                        yield name, archive.extractfile(member).read()
        except (tarfile.TarError, OSError, EOFError, zlib.error) as error:
            raise UserError(f"{self.path}: unreadable archive ({error})") from None

    def describe(self, name=""):
        return f"{self.path}:{name}" if name else str(self.path)


ZIP_ERRORS = (zipfile.BadZipFile, zipfile.LargeZipFile, zlib.error, EOFError, NotImplementedError, ValueError)


class ZipSource:
    """A .zip data set; a damaged archive (bad CRC, broken central directory) is a ``UserError``, as a tar's is."""

    def __init__(self, path):
        self.path = Path(path)
        try:
            self._archive = zipfile.ZipFile(self.path)
        except (*ZIP_ERRORS, OSError) as error:
            raise UserError(f"{self.path}: unreadable archive ({error})") from None

    def files(self):
        return sorted(info.filename for info in self._archive.infolist() if not info.is_dir())

    @contextlib.contextmanager
    def open(self, name):
        try:
            with self._archive.open(name) as handle:
                yield handle
        except KeyError:
            raise UserError(f"{self.path}: no member {name}") from None
        except (*ZIP_ERRORS, OSError) as error:
            raise UserError(f"{self.path}: unreadable archive at {name} ({error})") from None

    def iter_bytes(self, names):
        for name in names:
            try:
                yield name, self._archive.read(name)
            except (KeyError, OSError, *ZIP_ERRORS):
                yield name, None

    def describe(self, name=""):
        return f"{self.path}:{name}" if name else str(self.path)


class _ForwardOnly(io.RawIOBase):
    """A member of a streamed tar, readable front to back (TextIOWrapper asks streams whether they seek)."""

    def __init__(self, member):
        self._member = member

    def readable(self):
        return True

    def readinto(self, buffer):
        data = self._member.read(len(buffer))
        buffer[:len(data)] = data
        return len(data)


def _member_name(member):
    name = member.name
    while name.startswith("./"):
        name = name[2:]
    return name


def open_source(path):
    """The directory or archive at ``path`` as a Source; anything else is a UserError."""
    path = Path(path)
    if not path.exists():
        raise UserError(f"{path}: no such file or directory")
    userfiles.check_input(path, "--data")
    if path.is_dir():
        return DirectorySource(path)
    if tarfile.is_tarfile(path):
        return TarSource(path)
    if zipfile.is_zipfile(path):
        return ZipSource(path)
    raise UserError(f"{path}: not a directory nor a .tar.gz / .tar / .zip archive of a data set")


def text_lines(source, name):
    """Decoded lines of a text file inside a source (``text.utf8_lines``: UTF-8, BOM tolerated, a clear error)."""
    with source.open(name) as handle:
        yield from utf8_lines(handle, source.describe(name))


def csv_rows(source, name):
    """The rows of a CSV file inside a source, decoded by ``text_lines``; text that is no CSV (a NUL byte, say) is
    a ``UserError`` naming the file and line."""
    reader = csv.reader(text_lines(source, name))
    try:
        yield from reader
    except csv.Error as error:
        raise UserError(f"{source.describe(name)} line {reader.line_num}: not CSV text ({error})") from None


def find_root(files, marker):
    """The shallowest folder prefix P such that P + marker is one of ``files`` (e.g. marker "FER2013Train/label.csv").

    Returns None when absent. P is "" or ends with "/".
    """
    best = None
    for name in files:
        if name == marker or name.endswith("/" + marker):
            prefix = name[: len(name) - len(marker)]
            if best is None or prefix.count("/") < best.count("/"):
                best = prefix
    return best
