"""The class names of a model file, found one way for every command (predict, gradcam, export-firmware).

In order: an explicit ``--labels``, a bundled model's card, a sidecar JSON (``OUT.json`` written by ``quantize``,
the run folder's ``config.json``), labels packed into TFLite metadata, then the data set whose class count matches.
"""
import io
import json
import zipfile
from pathlib import Path

from lanmsff_edge.errors import UserError
from lanmsff_edge.text import read_text

_JSON_KEYS = ("class_names", "labels", "classes")


def default_labels(num_classes):
    """FERPlus's 8 labels for 8 outputs, FER-2013's 7 for 7, ``class_0…`` otherwise."""
    from lanmsff_edge.data.classes import FER2013_CLASSES, FERPLUS_CLASSES

    if num_classes == len(FERPLUS_CLASSES):
        return tuple(FERPLUS_CLASSES), "FERPlus class order (8 outputs)"
    if num_classes == len(FER2013_CLASSES):
        return tuple(FER2013_CLASSES), "FER-2013 class order (7 outputs)"
    return tuple(f"class_{i}" for i in range(num_classes)), "generic names (no labels found)"


def _from_json(data, source):
    """A label list from JSON: a plain list, a ``class_names``/``labels``/``classes`` list (at any depth), or the
    class order of the data set named by ``dataset`` (what ``lanmsff-edge quantize`` writes in ``OUT.json``)."""
    from lanmsff_edge.data.classes import CLASS_NAMES

    if isinstance(data, dict):
        for key in _JSON_KEYS:
            if isinstance(data.get(key), list):
                return data[key]
        if isinstance(data.get("dataset"), str) and data["dataset"].lower() in CLASS_NAMES:
            return list(CLASS_NAMES[data["dataset"].lower()])
        for value in data.values():  # e.g. {"dataset": {"class_names": [...]}}
            if isinstance(value, dict):
                found = _from_json(value, source)
                if found is not None:
                    return found
        return None
    if isinstance(data, list):
        return data
    return None


def _names_a_file(option):
    """True when a ``--labels`` value is meant as a file: an existing path, or one that looks like a file name
    (a known suffix or a folder in it, and no comma) — so a missing file is reported as missing, not read as one
    label."""
    path = Path(option)
    return path.exists() or ("," not in option and (path.suffix.lower() in (".txt", ".json", ".csv")
                                                     or "/" in option or "\\" in option))


def _read_option(option):
    path = Path(option)
    if _names_a_file(str(option)):
        if path.is_dir():
            raise UserError(f"--labels {path}: is a folder; give a .txt / .json file or comma-separated names")
        if not path.exists():
            raise UserError(f"--labels {path}: no such file")
        text = read_text(path)  # refuses a FIFO or a device
        if path.suffix.lower() == ".json":
            try:
                labels = _from_json(json.loads(text), path)
            except json.JSONDecodeError as error:
                raise UserError(f"--labels {path}: not valid JSON ({error.msg}, line {error.lineno})") from None
            if labels is None:
                raise UserError(f"--labels {path}: no list and no {'/'.join(_JSON_KEYS)} key")
            return labels, f"--labels {path}"
        labels = [line.strip() for line in text.splitlines() if line.strip()]
        if not labels:
            raise UserError(f"--labels {path}: the file holds no labels (one per line)")
        return labels, f"--labels {path}"
    return [part.strip() for part in str(option).split(",")], "--labels"


def _sidecars(model_path):
    model_path = Path(model_path)
    return [model_path.with_suffix(".json"), model_path.with_name(model_path.name + ".json"),
            model_path.parent / "config.json"]


def _card_labels(model_path):
    from lanmsff_edge.artifacts import presets

    bundled = presets.bundled_config(model_path)
    return [] if bundled is None else [(bundled["class_names"], "the bundled model's card", True)]


def _sidecar_labels(model_path):
    for sidecar in _sidecars(model_path):
        if sidecar.is_file():
            try:
                labels = _from_json(json.loads(read_text(sidecar)), sidecar)
            except (json.JSONDecodeError, UserError, OSError):
                continue  # an unreadable sidecar names no labels: the next source decides
            if labels is not None:
                return [(labels, f"sidecar {sidecar.name}", True)]
    return []


def _from_metadata(model_bytes):
    """Labels packed into the model by the TFLite metadata writer (a zip appended to the flatbuffer)."""
    try:
        with zipfile.ZipFile(io.BytesIO(model_bytes)) as archive:
            for name in archive.namelist():
                if name.lower().endswith(".txt"):
                    lines = archive.read(name).decode("utf-8", "replace").splitlines()
                    return [line.strip() for line in lines if line.strip()], f"model metadata ({name})"
    except zipfile.BadZipFile:
        return None
    return None


def resolve_labels(model_path, num_classes, model_bytes=None, option=None, guess=True):
    """``(labels, source)`` for a model with ``num_classes`` outputs: ``option``, else a bundled model's card, its
    sidecar JSON, the TFLite metadata (of ``model_bytes``, read from a .tflite file when not given), the data set's
    names by count; a count mismatch in an explicit source is a ``UserError`` naming it. ``guess=False``: no names
    by count — ``(None, why)`` when neither the model nor a file beside it names its classes (``info`` describes
    a model as it is, and a 640-wide autoencoder output has no classes to name)."""
    if option is not None and not str(option).strip():
        raise UserError("--labels is empty: give comma-separated names or a .txt / .json file")
    if option:
        candidates = [(*_read_option(option), True)]
    else:
        candidates = _card_labels(model_path) or _sidecar_labels(model_path)
        if not candidates:
            if model_bytes is None and Path(model_path).suffix == ".tflite" and Path(model_path).is_file():
                model_bytes = Path(model_path).read_bytes()
            found = _from_metadata(model_bytes or b"")
            candidates = [(*found, False)] if found else []
    for labels, source, strict in candidates:
        labels = [str(label).strip() for label in labels]
        problem = _label_problem(labels, num_classes)
        if problem:
            if not strict:
                continue
            raise UserError(f"{source} {problem}")
        return tuple(labels), source
    if not guess:
        return None, "none in the model's metadata or beside it (name them with --labels)"
    return default_labels(num_classes)


def _label_problem(labels, num_classes):
    """Why ``labels`` cannot name ``num_classes`` outputs (None when they can): the count, an empty or repeated name."""
    if len(labels) != num_classes:
        return f"gives {len(labels)} label(s) but the model has {num_classes} outputs"
    empty = [index + 1 for index, label in enumerate(labels) if not label]
    if empty:
        return f"has an empty label (number {empty[0]} of {num_classes})"
    repeated = next((label for index, label in enumerate(labels) if label in labels[:index]), None)
    if repeated is not None:
        return f"gives the label {repeated!r} twice (each output needs its own name)"
    return None


def class_names(model_path, num_classes):
    """Just the names of ``resolve_labels`` (no ``--labels`` option)."""
    return resolve_labels(model_path, num_classes)[0]
