"""The per-epoch training checkpoint: one ``.npz`` file, written atomically, small enough for git.

It holds everything a resumed run needs to continue exactly where the last finished epoch left off: the
model's weights, the optimizer's variables (Adam moments and its iteration count) and learning rate, the best
weights so far (only when they differ from the current ones: saves a third of the file), and a JSON state
(epoch, seed, history, the plateau / early-stopping counters). About 4–6 MB for the full LANMSFF.
One file means one rename: a kill at any moment leaves either the previous checkpoint or the new one.
"""
import io
import json
import math
import os
import zipfile
import zlib
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from lanmsff_edge.atomic import atomic_path
from lanmsff_edge.errors import UserError

CHECKPOINT_NAME = "checkpoint.npz"
FORMAT_VERSION = 1


@dataclass
class Checkpoint:
    """What ``save`` writes and ``load`` returns; ``state`` is plain JSON-able data."""

    state: dict
    weights: list
    optimizer_names: list
    optimizer_values: list
    best_weights: list | None = None  # None: the best weights are ``weights``
    extra: dict = field(default_factory=dict)

    @property
    def epoch(self):
        """Number of finished epochs (the index of the next one)."""
        return int(self.state["epoch"])

    def best(self):
        return self.weights if self.best_weights is None else self.best_weights

    @property
    def best_epoch(self):
        """1-based epoch of the best weights: early stopping's (lowest val loss, kept 0-based) in a training
        checkpoint, ``best_epoch`` (1-based) in a QAT one; the last epoch when none is recorded."""
        if "early_stopping" not in self.state and self.state.get("best_epoch") is not None:
            return int(self.state["best_epoch"])
        return int(self.state.get("early_stopping", {}).get("best_epoch", self.epoch - 1)) + 1


def capture(model, state, best_weights=None):
    """A ``Checkpoint`` of a compiled model's current weights and optimizer state."""
    optimizer = model.optimizer
    weights = model.get_weights()
    if best_weights is not None and len(best_weights) == len(weights) and all(
            np.array_equal(a, b) for a, b in zip(best_weights, weights)):
        best_weights = None
    state = dict(state, learning_rate=float(np.asarray(optimizer.learning_rate.numpy())))
    return Checkpoint(state=state, weights=weights,
                      optimizer_names=[v.name for v in optimizer.variables],
                      optimizer_values=[np.asarray(v.numpy()) for v in optimizer.variables],
                      best_weights=best_weights)


def save(checkpoint, path):
    arrays = {"state": np.array(json.dumps(dict(checkpoint.state, format=FORMAT_VERSION))),
              "optimizer_variable_names": np.array(json.dumps(checkpoint.optimizer_names))}
    arrays.update({f"weight_{i}": w for i, w in enumerate(checkpoint.weights)})
    arrays.update({f"optimizer_{i}": v for i, v in enumerate(checkpoint.optimizer_values)})
    if checkpoint.best_weights is not None:
        arrays.update({f"best_{i}": w for i, w in enumerate(checkpoint.best_weights)})
    buffer = io.BytesIO()
    np.savez(buffer, **arrays)
    with atomic_path(path) as temporary:
        temporary.write_bytes(buffer.getvalue())


def _numbered(archive, prefix):
    """``prefix0``, ``prefix1``, … in order (``optimizer_names`` is not ``optimizer_<n>``)."""
    count = sum(1 for key in archive.files if key.startswith(prefix) and key[len(prefix):].isdigit())
    return [archive[f"{prefix}{i}"] for i in range(count)]


def load(path):
    """The checkpoint at ``path``; one that cannot be read back whole (truncated by a full disk, overwritten, not a
    checkpoint at all) is a ``UserError`` saying it is damaged and what to do — never numpy's advice to load it
    with pickling allowed, which would run code from the file."""
    from lanmsff_edge import userfiles

    if os.path.lexists(path):
        from lanmsff_edge import atomic

        userfiles.check_input(path, "checkpoint", folder_ok=False)
        atomic.settle(Path(path).parent)  # a commit of checkpoint + history that a kill interrupted is finished
    try:
        with np.load(path, allow_pickle=False) as archive:
            state = json.loads(str(archive["state"]))
            names = json.loads(str(archive["optimizer_variable_names"]))
            weights = _numbered(archive, "weight_")
            optimizer_values = _numbered(archive, "optimizer_")
            best = _numbered(archive, "best_") or None
        problem = _shape_problem(state, names, weights, optimizer_values, best)
        if problem:
            raise ValueError(problem)
    except (PermissionError, IsADirectoryError, FileNotFoundError):
        raise  # not damage: the CLI reports these as they are
    except (OSError, ValueError, KeyError, TypeError, EOFError, zipfile.BadZipFile, zlib.error) as error:
        raise UserError(f"checkpoint {path} is damaged ({_damage(error)}): restore it from a copy, or delete it "
                        "to start over") from None
    return Checkpoint(state=state, weights=weights, optimizer_names=names, optimizer_values=optimizer_values,
                      best_weights=best)


def _shape_problem(state, names, weights, optimizer_values, best):
    """What makes readable arrays not a checkpoint of this tool (None when they are one)."""
    if not isinstance(state, dict):
        return "its state is not a record"
    if not _whole(state.get("epoch")) or state["epoch"] < 0:
        return "no epoch count"
    if not weights:
        return "no weights"
    if best is not None and len(best) != len(weights):
        return f"{len(best)} best weights for {len(weights)} weights"
    if not isinstance(names, list) or len(names) != len(optimizer_values) or not all(isinstance(n, str) for n in names):
        return "its optimizer variables and their names disagree"
    stopping = state.get("early_stopping", {})
    if not isinstance(stopping, dict) or not _whole(stopping.get("best_epoch", 0)):
        return "its early-stopping record is malformed"
    if state.get("best_epoch") is not None and not _whole(state["best_epoch"]):
        return "its best epoch is not a whole number"
    rate = state.get("learning_rate", 1.0)
    if isinstance(rate, bool) or not isinstance(rate, (int, float)) or not math.isfinite(rate):
        return "its learning rate is not a finite number"
    return None


def _whole(value):
    return isinstance(value, int) and not isinstance(value, bool)


def _damage(error):
    """What is wrong with the file, in a few words (numpy's text for a non-archive is its unsafe-loading advice)."""
    if isinstance(error, EOFError):
        return "empty"
    if "pickle" in str(error):
        return "not a checkpoint file"
    text = str(error).strip()
    return text.splitlines()[0] if text else type(error).__name__


def _slot_name(optimizer, name):
    """'Adam/m/block1_c1_conv/kernel:0' (built by fit) and 'm/block1_c1_conv/kernel:0' (built here) are one slot."""
    prefix = f"{optimizer.name}/"
    return name[len(prefix):] if name.startswith(prefix) else name


def restore(model, checkpoint, path="checkpoint"):
    """Put a checkpoint's weights, optimizer variables and learning rate into a compiled model.

    Call inside the distribution strategy's scope: the optimizer's slots are created here, as ``fit`` would.
    """
    try:
        model.set_weights(checkpoint.weights)
    except ValueError as error:
        raise UserError(f"checkpoint {path} does not fit this model: {str(error).splitlines()[0]}") from None
    optimizer = model.optimizer
    optimizer.build(model.trainable_variables)
    names = [_slot_name(optimizer, v.name) for v in optimizer.variables]
    if names != [_slot_name(optimizer, name) for name in checkpoint.optimizer_names]:
        raise UserError(f"checkpoint {path}: optimizer state does not match this model "
                        f"({len(checkpoint.optimizer_names)} saved variables, {len(names)} expected)")
    for variable, value in zip(optimizer.variables, checkpoint.optimizer_values):
        variable.assign(value)
    optimizer.learning_rate.assign(checkpoint.state["learning_rate"])
