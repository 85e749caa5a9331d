"""Text files users hand to the tools (label.csv, fer2013.csv, label lists, pose lists, run configs), read as UTF-8
the same way everywhere: a BOM is dropped, and bytes that are not UTF-8 are a ``UserError`` naming the file and the
line, instead of Python's UnicodeDecodeError."""
import io

from lanmsff_edge.errors import UserError


def utf8_lines(stream, where):
    """The lines of a binary stream as ``str`` (line endings kept, so ``csv`` sees them as written); ``where``
    names the file in errors."""
    for number, raw in enumerate(stream, start=1):
        try:
            line = raw.decode("utf-8")
        except UnicodeDecodeError as error:
            raise UserError(f"{where} line {number}: not UTF-8 text (byte 0x{raw[error.start]:02x} at column "
                            f"{error.start + 1}); save the file as UTF-8") from None
        yield line.removeprefix("\ufeff") if number == 1 else line


def read_text(path):
    """The whole of a UTF-8 text file (OS errors such as a missing file pass through); a FIFO, a device or a file
    over ``userfiles.LIMITS["text"]`` is a ``UserError`` (``userfiles.read_bytes``)."""
    from lanmsff_edge import userfiles

    return "".join(utf8_lines(io.BytesIO(userfiles.read_bytes(path, "text")), str(path)))
