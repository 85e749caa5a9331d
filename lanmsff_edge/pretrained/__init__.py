"""Trained LANMSFF models shipped inside the package.

    model = pretrained.load("ferplus")               # float Keras model
    tflite = pretrained.load("ferplus", fmt="int8")   # TFLiteModel: .predict(N×64×64×1 float) -> probabilities
    pretrained.card("ferplus")["class_names"]

Every ``--model`` option takes a bundled name too: ``ferplus`` (the format the command needs) or ``ferplus:int8`` /
``ferplus:float`` (``resolve``).

Files, in this folder: ``lanmsff_<name>.keras`` (float), ``lanmsff_<name>_int8.tflite`` (QAT int8) and
``lanmsff_<name>.json`` (model card: data, splits, recipe, accuracies, class names, reproducing command).

Model card keys read here (others are free-form documentation): ``dataset`` (a ``load_dataset`` name),
``class_names`` (label order of the model's output), and ``check``: ``{"split": "val", "limit": N,
"accuracy": {"float": a, "int8": b}}``, the accuracy of each file on the first N images of the split, as
``check_accuracy`` measures it; the tests re-measure it on ../shared/data to prove the shipped files are the
ones the card describes.
"""
import json
from pathlib import Path

from lanmsff_edge.errors import UserError
from lanmsff_edge.text import read_text

NAMES = ("ferplus", "fer2013")
FORMATS = ("float", "int8")
HERE = Path(__file__).resolve().parent

# the archive to train each model on (../shared/data): FER-2013's image-folder archive has blurred training JPEGs
_TRAINING_DATA = {"ferplus": "ferplus.tar.gz", "fer2013": "fer2013_csv.tar.gz"}
_HOW_TO_MAKE = {
    name: f"lanmsff-edge train --dataset {name} --data {_TRAINING_DATA[name]} --out runs/{name}`, then `lanmsff-edge "
          f"quantize --method qat --model runs/{name} --out runs/{name}/lanmsff_{name}_int8.tflite"
    for name in NAMES
}


def model_path(name, fmt="float", directory=None):
    """Where the ``fmt`` file of pretrained model ``name`` lives (whether or not it is installed)."""
    _check(name, fmt)
    directory = HERE if directory is None else directory
    suffix = ".keras" if fmt == "float" else "_int8.tflite"
    return Path(directory) / f"lanmsff_{name}{suffix}"


def card_path(name, directory=None):
    _check(name, "float")
    directory = HERE if directory is None else directory
    return Path(directory) / f"lanmsff_{name}.json"


def available(directory=None):
    """``[(name, fmt), ...]`` of the model files installed in ``directory``."""
    return [(name, fmt) for name in NAMES for fmt in FORMATS if model_path(name, fmt, directory).is_file()]


def bundled_names(directory=None):
    """The ``--model`` names of what is installed, e.g. ``["ferplus", "ferplus:int8", "ferplus:float"]``: each model
    with any file bare (the format the command needs), then one name per installed file, int8 first. The helps and
    the errors list these, so they offer only what exists."""
    installed = available(directory)
    names = []
    for name in NAMES:
        formats = [fmt for fmt in reversed(FORMATS) if (name, fmt) in installed]
        if formats:
            names += [name] + [f"{name}:{fmt}" for fmt in formats]
    return names


def card(name, directory=None):
    """The model card (dict) of pretrained model ``name``; ``{}`` when it has none."""
    path = card_path(name, directory)
    if not path.is_file():
        return {}
    try:
        return json.loads(read_text(path))
    except (OSError, ValueError, UserError) as error:
        raise UserError(f"cannot read model card {path}: {error}") from None


def class_names(name, directory=None):
    """Class names of pretrained model ``name``: from its card, else the data set's own label order."""
    names = card(name, directory).get("class_names")
    if names:
        return tuple(names)
    from lanmsff_edge.data.classes import CLASS_NAMES

    return CLASS_NAMES[name]


def require(name, fmt="float", directory=None):
    """The path of an installed pretrained model file; a missing one is a ``UserError`` that lists what is
    bundled and how to make the missing one."""
    path = model_path(name, fmt, directory)
    if not path.is_file():
        bundled = ", ".join(bundled_names(directory)) or "none"
        raise UserError(f"pretrained model '{name}' ({fmt}) is not installed ({path.name} missing; bundled: "
                        f"{bundled}); make one with `{_HOW_TO_MAKE[name]}` and pass --model PATH")
    return path


def _named(value):
    """(name, format or "") when ``value`` names a bundled model — ``ferplus`` or ``ferplus:int8`` — else None.
    An existing file or folder of that name wins over the bundled model."""
    if not isinstance(value, (str, Path)) or Path(str(value)).exists():
        return None
    name, _, fmt = str(value).partition(":")
    return (name, fmt) if name in NAMES else None


def is_bundled_name(value):
    """True when ``value`` names a bundled model (``ferplus``, ``ferplus:int8``) rather than a file."""
    return _named(value) is not None


def is_pair_name(value):
    """True for a bare bundled name (``ferplus``): the float and int8 files together, where a command takes both."""
    named = _named(value)
    return named is not None and not named[1]


def resolve(value, fmt="float", directory=None):
    """The installed file a ``--model`` value names when it is a bundled model — ``ferplus`` (in format ``fmt``)
    or ``ferplus:int8`` — else None."""
    named = _named(value)
    if named is None:
        return None
    name, chosen = named
    return require(name, chosen or fmt, directory)


def bundled_config(path, directory=None):
    """``{"dataset", "class_names"}`` from the card of an installed pretrained file, else None: what a training
    run's config.json tells the commands about its model."""
    path = Path(path).resolve()
    folder = HERE if directory is None else Path(directory).resolve()
    for name, fmt in available(folder):
        if model_path(name, fmt, folder) == path:
            info = card(name, folder)
            return {"dataset": info.get("dataset", name), "class_names": list(class_names(name, folder))}
    return None


def load(name, fmt="float", directory=None, num_threads=None):
    """The float Keras model (``fmt="float"``) or the int8 ``TFLiteModel`` (``fmt="int8"``) of ``name``."""
    path = require(name, fmt, directory)
    if fmt == "float":
        from lanmsff_edge.model import load_model

        return load_model(path)
    from lanmsff_edge.runtimes.litert import TFLiteModel

    return TFLiteModel(path, num_threads=num_threads)


def check_accuracy(name, data, split=None, limit=None, formats=FORMATS, directory=None):
    """``{fmt: accuracy}`` of the installed files of ``name`` on the first ``limit`` images of ``split``.

    ``data``: the data set's archive or folder. Without ``split``/``limit`` the card's ``check`` entry decides.
    """
    from lanmsff_edge.evaluation import evaluate

    recorded = card(name, directory).get("check", {})
    split = recorded.get("split", "val") if split is None else split
    limit = recorded.get("limit") if limit is None else limit
    dataset = card(name, directory).get("dataset", name)
    return {fmt: evaluate(str(require(name, fmt, directory)), dataset=dataset, data=data, split=split,
                          limit=limit)["accuracy"] for fmt in formats}


def _check(name, fmt):
    if name not in NAMES:
        raise UserError(f"unknown pretrained model '{name}': choose one of {', '.join(NAMES)} or give a model file")
    if fmt not in FORMATS:
        raise UserError(f"unknown model format '{fmt}': choose one of {', '.join(FORMATS)}")
