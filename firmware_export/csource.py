"""Turning bytes, integers, floats and names into C/C++ source text (the way TFLite Micro's examples spell them)."""
import re

# int dtype → (C type, TfLiteType): what a bundle's input/output tensors may be
C_TYPES = {"int8": ("int8_t", "kTfLiteInt8"), "int16": ("int16_t", "kTfLiteInt16"),
           "int32": ("int32_t", "kTfLiteInt32")}

_IDENTIFIER = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")


def check_identifier(name):
    """True when ``name`` can prefix C identifiers and file names (``lanmsff`` → ``g_lanmsff_model_data``)."""
    return bool(_IDENTIFIER.match(name or ""))


def camel(name):
    """``lanmsff_int8`` → ``LanmsffInt8`` (for constants in TFLM's ``kCamelCase`` style)."""
    return "".join(part[:1].upper() + part[1:] for part in name.split("_") if part)


def include_guard(filename):
    return re.sub(r"[^A-Za-z0-9]", "_", filename).upper() + "_"


def byte_rows(data, per_line=12, indent="    "):
    """``0x1c, 0x00, …`` rows, ``per_line`` bytes each (xxd -i style, as in TFLM's *_model_data.cc)."""
    data = bytes(data)
    rows = []
    for start in range(0, len(data), per_line):
        rows.append(indent + ", ".join(f"0x{b:02x}" for b in data[start:start + per_line]) + ",")
    return "\n".join(rows)


def int_rows(values, per_line=16, indent="    "):
    values = [int(v) for v in values]
    rows = []
    for start in range(0, len(values), per_line):
        rows.append(indent + ", ".join(f"{v}" for v in values[start:start + per_line]) + ",")
    return "\n".join(rows)


def c_float(value):
    """A float literal that round-trips a float32 exactly (9 significant digits)."""
    text = f"{float(value):.9g}"
    if "e" not in text and "." not in text and "inf" not in text and "nan" not in text:
        text += ".0"
    return text + "f"


def c_string(text):
    """A double-quoted C string literal (printable ASCII kept, everything else escaped; ``?`` as ``\\?`` so no
    ``??/`` trigraph forms)."""
    out = []
    for char in str(text):
        code = ord(char)
        if char in "\\\"?":
            out.append("\\" + char)
        elif 32 <= code < 127:
            out.append(char)
        else:
            out.extend(f"\\x{b:02x}\"\"" for b in char.encode("utf-8"))
    return '"' + "".join(out) + '"'


def comment_text(text, limit=200):
    """``text`` (a label, a file name) made safe inside a ``//`` or ``/* */`` comment and a Markdown line: one line
    of printable ASCII, other characters as ``\\uXXXX``, no ``*/`` or ``/*``, no ``??`` (trigraphs), no backslash
    that could end a line (written ``\\x5c``), at most ``limit`` characters."""
    out = []
    for char in str(text):
        code = ord(char)
        if char == "\\":
            out.append("\\x5c")
        elif 32 <= code < 127:
            out.append(char)
        else:
            out.append(f"\\u{code:04x}" if code <= 0xFFFF else f"\\U{code:08x}")
    safe = "".join(out)
    while "*/" in safe or "/*" in safe or "??" in safe:
        safe = safe.replace("*/", "* /").replace("/*", "/ *").replace("??", "? ?")
    return safe if len(safe) <= limit else safe[:limit - 3] + "..."
