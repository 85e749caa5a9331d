"""The best weights of an unfinished training run as a model file, like the ``best.pt`` of other trainers.

A run writes ``model.keras`` only when it ends; until then ``best.keras`` is made on demand from the checkpoint's
best weights (lowest validation loss so far), so a long run can be evaluated, quantized or benchmarked while it
trains. It is rebuilt whenever the checkpoint is newer. Read from the run's files (``checkpoint.npz``,
``config.json``) alone: the artifacts layer never imports training.
"""
import json
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
    """The run's config.json; a missing (``missing_hint`` appended to the message) or broken one is a
    ``UserError``."""
    path = Path(out) / CONFIG_NAME
    try:
        return json.loads(read_text(path))
    except FileNotFoundError:
        raise UserError(f"{out} is not a training run (no {CONFIG_NAME}){missing_hint}") from None
    except ValueError as error:
        raise UserError(f"{path} is not valid JSON: {error}") from None


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
