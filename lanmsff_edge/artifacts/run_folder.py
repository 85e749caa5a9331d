"""The best weights of an unfinished training run as a model file, like the ``best.pt`` of other trainers.

A run writes ``model.keras`` only when it ends; until then ``best.keras`` is made on demand from the checkpoint's
best weights (lowest validation loss so far), so a long run can be evaluated, quantized or benchmarked while it
trains. It is rebuilt whenever the checkpoint is newer. Read from the run's files (``checkpoint.npz``,
``config.json``) alone: the artifacts layer never imports training.
"""
import json
import math
from pathlib import Path

from lanmsff_edge.artifacts import checkpoint as ckpt
from lanmsff_edge.errors import UserError
from lanmsff_edge.text import read_text

BEST_NAME = "best.keras"
MODEL_NAME = "model.keras"
CONFIG_NAME = "config.json"
# The files that make a run folder a run (its state, its record): no command's output may replace one of them.
RUN_FILES = (CONFIG_NAME, ckpt.CHECKPOINT_NAME, MODEL_NAME, BEST_NAME, "metrics.json", "history.csv", "history.png")


def is_unfinished(out):
    """True when ``out`` holds a training checkpoint (a run that has not written model.keras yet)."""
    return (Path(out) / ckpt.CHECKPOINT_NAME).exists()


def read_config(out, missing_hint=""):
    """The run's config.json; a missing (``missing_hint`` appended to the message), broken or wrongly shaped one
    is a ``UserError``."""
    path = Path(out) / CONFIG_NAME
    try:
        config = json.loads(read_text(path))
    except FileNotFoundError:
        raise UserError(f"{out} is not a training run (no {CONFIG_NAME}){missing_hint}") from None
    except ValueError as error:
        raise UserError(f"{path} is not valid JSON: {error}") from None
    problem = config_problem(config)
    if problem:
        raise UserError(f"{path} is not a run's config.json ({problem}); restore it from a copy, or start the run "
                        "over in a new --out")
    return config


_NUMBER = (int, float)
_TYPES = {  # config.json: key -> allowed types (None: null allowed); keys not listed are not checked
    "dataset": (str,), "data": (str, None), "fold": (int, None), "num_classes": (int,), "class_names": (list,),
    "options": (dict,),
}
_OPTION_TYPES = {  # its "options" (training/config.OPTION_DEFAULTS)
    "dataset": (str,), "data": (str, None), "epochs": (int, None), "batch_size": (int,), "seed": (int,),
    "width": _NUMBER, "massatt": (bool,), "pwfs": (bool,), "massatt_form": (str,), "fold": (int, None),
    "strategy": (str,), "augment": (str,), "limit": (int, None), "learning_rate": _NUMBER,
    "bn_recalibration": (bool,), "targets": (str,), "init": (str, None), "teacher": (str, None),
    "teacher_weight": _NUMBER, "dropout": _NUMBER,
}
_POSITIVE = ("width", "batch_size", "epochs", "learning_rate", "num_classes", "limit")


def config_problem(config):
    """What makes parsed JSON not a run's config.json (None when it is one): it must be an object whose known
    keys have their types (a width is a positive number, class names are strings, as many as ``num_classes``)."""
    if not isinstance(config, dict):
        return f"a JSON {type(config).__name__}, not an object"
    for table, record, where in ((_TYPES, config, ""), (_OPTION_TYPES, config.get("options") or {}, "options.")):
        if not isinstance(record, dict):
            return f"{where or 'options'} is not an object"
        for key, allowed in table.items():
            if key not in record:
                continue
            value = record[key]
            if not _has_type(value, allowed):
                return f"{where}{key} is {value!r}, not {_type_names(allowed)}"
            if key in _POSITIVE and value is not None and not value > 0:
                return f"{where}{key} is {value!r}, not a positive number"
    names = config.get("class_names")
    if names is not None and not all(isinstance(name, str) for name in names):
        return "class_names holds something other than names"
    if names is not None and config.get("num_classes") is not None and len(names) != config["num_classes"]:
        return f"{len(names)} class_names for num_classes {config['num_classes']}"
    if config.get("num_classes") is not None and config["num_classes"] < 2:
        return "num_classes is under 2"
    return None


def _has_type(value, allowed):
    if value is None:
        return None in allowed
    if isinstance(value, bool):
        return bool in allowed
    if isinstance(value, float) and not math.isfinite(value):
        return False
    return any(kind is not None and kind is not bool and isinstance(value, kind) for kind in allowed)


def _type_names(allowed):
    names = {str: "text", int: "a whole number", float: "a number", bool: "true/false", list: "a list",
             dict: "an object", None: "null"}
    return " or ".join(dict.fromkeys(names[kind] for kind in allowed))


def best_so_far(out):
    """(path of ``out``/best.keras, 1-based best epoch, finished epochs) for the run folder ``out``."""
    from lanmsff_edge.model import build_from_options, save_model

    out = Path(out)
    path, checkpoint_path = out / BEST_NAME, out / ckpt.CHECKPOINT_NAME
    checkpoint = ckpt.load(checkpoint_path)
    if path.exists() and path.stat().st_mtime >= checkpoint_path.stat().st_mtime:
        return path, checkpoint.best_epoch, checkpoint.epoch
    saved = read_config(out)
    model = build_from_options(int(saved["num_classes"]), saved["options"])
    model.set_weights(checkpoint.best())
    save_model(model, path, include_optimizer=False)
    return path, checkpoint.best_epoch, checkpoint.epoch
