"""The bundled models (presets): ``PRESETS`` is the one place that knows their names, files, classes and cards.

Every ``--model`` option takes a preset name: ``ferplus`` (the format the command needs) or ``ferplus:int8`` /
``ferplus:float`` (``resolve``). The files live in ``lanmsff_edge/pretrained/`` (package data, ``FOLDER``):
``float`` a ``.keras`` model, ``int8`` the QAT full-integer ``.tflite``, ``card`` the model card (data, splits,
recipe, accuracies, class names, reproducing command). A new preset (``ferplus-w0.5``) is one entry here; helps and
errors list only the presets whose files are installed (``bundled_names``).

Model card keys read here (others are free-form documentation): ``dataset`` (a ``load_dataset`` name),
``class_names`` (label order of the model's output), and ``check``: ``{"split": "val", "limit": N,
"accuracy": {"float": a, "int8": b}}``, the accuracy of each file on the first N images of the split
(``pretrained.check_accuracy``).
"""
import json
from pathlib import Path

from lanmsff_edge.errors import UserError
from lanmsff_edge.text import read_text

FORMATS = ("float", "int8")
FOLDER = Path(__file__).resolve().parent.parent / "pretrained"  # the package data, found without importing it


def _preset(name, dataset, training_data, width=1.0, train_options=""):
    """``train_options``: what ``train`` needs beyond data set, data and width to make this model again."""
    return {"dataset": dataset, "width": width, "training_data": training_data,  # ../shared/data archive to train on
            "train_options": train_options,
            "files": {"float": f"lanmsff_{name}.keras", "int8": f"lanmsff_{name}_int8.tflite"},
            "card": f"lanmsff_{name}.json"}


PRESETS = {  # name → metadata; classes come from the card, else the data set's label order
    "ferplus": _preset("ferplus", "ferplus", "ferplus.tar.gz"),
    # FER-2013's image-folder archive has blurred training JPEGs: the CSV one it is
    "fer2013": _preset("fer2013", "fer2013", "fer2013_csv.tar.gz"),
    # the microcontroller family (block widths ×0.5 / ×0.25), trained on the votes with ferplus as teacher; the
    # half width starts from ferplus's most important channels (narrowing), the quarter width from scratch
    # (narrowing gave it no head start); the cards list every stage
    "ferplus-w0.5": _preset("ferplus-w0.5", "ferplus", "ferplus.tar.gz", width=0.5,
                            train_options="--init ferplus --targets votes --teacher ferplus --learning-rate 5e-4"),
    "ferplus-w0.25": _preset("ferplus-w0.25", "ferplus", "ferplus.tar.gz", width=0.25,
                             train_options="--targets votes --teacher ferplus"),
}
NAMES = tuple(PRESETS)


def how_to_make(name):
    """The commands that make preset ``name``'s files."""
    preset = PRESETS[name]
    options = ("" if preset["width"] == 1.0 else f" --width {preset['width']:g}") + (
        f" {preset['train_options']}" if preset["train_options"] else "")
    return (f"lanmsff-edge train --dataset {preset['dataset']} --data {preset['training_data']}{options} --out "
            f"runs/{name}`, then `lanmsff-edge quantize --method qat --model runs/{name} --out "
            f"runs/{name}/{PRESETS[name]['files']['int8']}")


def model_path(name, fmt="float", directory=None):
    """Where the ``fmt`` file of preset ``name`` lives (whether or not it is installed)."""
    _check(name, fmt)
    return Path(FOLDER if directory is None else directory) / PRESETS[name]["files"][fmt]


def card_path(name, directory=None):
    _check(name, "float")
    return Path(FOLDER if directory is None else directory) / PRESETS[name]["card"]


def available(directory=None):
    """``[(name, fmt), ...]`` of the model files installed in ``directory``."""
    return [(name, fmt) for name in PRESETS for fmt in FORMATS if model_path(name, fmt, directory).is_file()]


def bundled_names(directory=None):
    """The ``--model`` names of what is installed, e.g. ``["ferplus", "ferplus:int8", "ferplus:float"]``: each model
    with any file bare (the format the command needs), then one name per installed file, int8 first. The helps and
    the errors list these, so they offer only what exists."""
    installed = available(directory)
    names = []
    for name in PRESETS:
        formats = [fmt for fmt in reversed(FORMATS) if (name, fmt) in installed]
        if formats:
            names += [name] + [f"{name}:{fmt}" for fmt in formats]
    return names


def card(name, directory=None):
    """The model card (dict) of preset ``name``; ``{}`` when it has none."""
    path = card_path(name, directory)
    if not path.is_file():
        return {}
    try:
        return json.loads(read_text(path))
    except (OSError, ValueError, UserError) as error:
        raise UserError(f"cannot read model card {path}: {error}") from None


def class_names(name, directory=None):
    """Class names of preset ``name``: from its card, else the data set's own label order."""
    names = card(name, directory).get("class_names")
    if names:
        return tuple(names)
    from lanmsff_edge.data.classes import CLASS_NAMES

    return CLASS_NAMES[PRESETS[name]["dataset"]]


def require(name, fmt="float", directory=None):
    """The path of an installed preset file; a missing one is a ``UserError`` that lists what is bundled and how
    to make the missing one."""
    path = model_path(name, fmt, directory)
    if not path.is_file():
        bundled = ", ".join(bundled_names(directory)) or "none"
        raise UserError(f"pretrained model '{name}' ({fmt}) is not installed ({path.name} missing; bundled: "
                        f"{bundled}); make one with `{how_to_make(name)}` and pass --model PATH")
    return path


def _named(value):
    """(name, format or "") when ``value`` names a preset — ``ferplus`` or ``ferplus:int8`` — else None.
    An existing file or folder of that name wins over the preset."""
    if not isinstance(value, (str, Path)) or Path(str(value)).exists():
        return None
    name, _, fmt = str(value).partition(":")
    return (name, fmt) if name in PRESETS else None


def is_bundled_name(value):
    """True when ``value`` names a preset (``ferplus``, ``ferplus:int8``) rather than a file."""
    return _named(value) is not None


def is_pair_name(value):
    """True for a bare preset name (``ferplus``): the float and int8 files together, where a command takes both."""
    named = _named(value)
    return named is not None and not named[1]


def resolve(value, fmt="float", directory=None):
    """The installed file a ``--model`` value names when it is a preset — ``ferplus`` (in format ``fmt``) or
    ``ferplus:int8`` — else None."""
    named = _named(value)
    if named is None:
        return None
    name, chosen = named
    return require(name, chosen or fmt, directory)


def bundled_config(path, directory=None):
    """``{"dataset", "class_names", "options"}`` from the card of an installed preset file, else None: what a
    training run's config.json tells the commands about its model."""
    path = Path(path).resolve()
    folder = Path(FOLDER if directory is None else directory).resolve()
    for name, fmt in available(folder):
        if model_path(name, fmt, folder) == path:
            info = card(name, folder)
            return {"dataset": info.get("dataset", PRESETS[name]["dataset"]),
                    "class_names": list(class_names(name, folder)), "options": dict(info.get("options") or {})}
    return None


def _check(name, fmt):
    if name not in PRESETS:
        raise UserError(f"unknown pretrained model '{name}': choose one of {', '.join(PRESETS)} or give a model file")
    if fmt not in FORMATS:
        raise UserError(f"unknown model format '{fmt}': choose one of {', '.join(FORMATS)}")
