"""Keras' plateau and early-stopping callbacks with a resumable state, and the per-epoch checkpoint writer.

Keras resets ``ReduceLROnPlateau`` and ``EarlyStopping`` in ``on_train_begin``; a resumed run re-applies the
saved counters right after that reset, so the learning-rate schedule and the patience continue exactly.
"""
import csv
import io
import math

from lanmsff_edge.atomic import artifact_group, write_text
from lanmsff_edge.keras import keras
from lanmsff_edge.plots import save_training_curves_png
from lanmsff_edge.artifacts import checkpoint as ckpt

HISTORY_COLUMNS = ("epoch", "loss", "accuracy", "val_loss", "val_accuracy", "lr")
CURVES_NAME = "history.png"


def _number(value):
    """JSON-safe float (±inf and NaN as strings json can carry)."""
    value = float(value)
    return value if math.isfinite(value) else repr(value)


def _from_number(value):
    return float(value)


class _Resumable:
    STATE = ()

    def __init__(self, *args, state=None, **kwargs):
        super().__init__(*args, **kwargs)
        self.pending_state = state

    def on_train_begin(self, logs=None):
        super().on_train_begin(logs)
        if self.pending_state:
            for key in self.STATE:
                value = self.pending_state[key]
                setattr(self, key, _from_number(value) if key == "best" else int(value))
            self.pending_state = None

    def get_state(self):
        return {key: _number(getattr(self, key)) if key == "best" else int(getattr(self, key))
                for key in self.STATE}


class ResumablePlateau(_Resumable, keras.callbacks.ReduceLROnPlateau):
    STATE = ("best", "wait", "cooldown_counter")


class ResumableEarlyStopping(_Resumable, keras.callbacks.EarlyStopping):
    """EarlyStopping whose best weights survive a resume (they live in the checkpoint, not in the state)."""

    STATE = ("best", "wait", "best_epoch", "stopped_epoch")

    def __init__(self, *args, best_weights=None, **kwargs):
        super().__init__(*args, **kwargs)
        self.pending_best_weights = best_weights

    def on_train_begin(self, logs=None):
        super().on_train_begin(logs)
        if self.pending_best_weights is not None:
            self.best_weights = self.pending_best_weights
            self.pending_best_weights = None


def history_csv(rows):
    buffer = io.StringIO()
    writer = csv.DictWriter(buffer, fieldnames=HISTORY_COLUMNS, extrasaction="ignore", lineterminator="\n")
    writer.writeheader()
    writer.writerows(rows)
    return buffer.getvalue()


class EpochCheckpoint(keras.callbacks.Callback):
    """After every epoch: append the history row, write ``checkpoint.npz``, ``history.csv`` and the curves
    ``history.png`` atomically.

    Must come after the plateau and early-stopping callbacks so their updates of this epoch are saved.
    ``write=False`` (non-chief workers of a multi-worker run) keeps the bookkeeping but writes nothing.
    """

    def __init__(self, out, plateau, stopper, state, write=True, log=None):
        super().__init__()
        self.out = out
        self.plateau = plateau
        self.stopper = stopper
        self.state = state  # carries seed, history, ...; updated in place
        self.write = write
        self.log = log  # receives one line per epoch: where the schedule stands (None: silent)
        self.pending_status = None

    def on_epoch_end(self, epoch, logs=None):
        logs = dict(logs or {})
        row = {"epoch": epoch + 1, **{key: float(logs[key]) for key in HISTORY_COLUMNS[1:] if key in logs}}
        if "lr" in row:
            row["lr"] = float(f"{row['lr']:.7g}")  # 0.001, not float32's 0.0010000000474974513
        self.state["history"].append(row)
        self.state.update(epoch=epoch + 1, plateau=self.plateau.get_state(), early_stopping=self.stopper.get_state(),
                          stopped_early=bool(self.model.stop_training))
        if self.write:
            self.save()
        if self.log is not None:  # printed once Keras has printed this epoch's metrics (see _flush)
            self.pending_status = schedule_status(epoch + 1, self.plateau, self.stopper, saved=self.write)

    def _flush(self):
        if self.pending_status:
            self.log(self.pending_status)
            self.pending_status = None

    def on_epoch_begin(self, epoch, logs=None):
        self._flush()

    def on_train_end(self, logs=None):
        self._flush()

    def save(self):
        snapshot = ckpt.capture(self.model, self.state, best_weights=self.stopper.best_weights)
        with artifact_group():  # the checkpoint and the history it holds: of one epoch, never of two
            ckpt.save(snapshot, self.out / ckpt.CHECKPOINT_NAME)
            write_text(self.out / "history.csv", history_csv(self.state["history"]))
            save_training_curves_png(self.state["history"], self.out / CURVES_NAME,
                                     title=f"{self.out.name}: epoch {self.state['epoch']}")


def schedule_status(epoch, plateau, stopper, saved=True):
    """One line after an epoch: the best val_loss so far and how many epochs without a better one remain before
    the learning-rate step and before early stopping (what a user watching a long run wants to know)."""
    best_epoch = int(stopper.best_epoch) + 1
    text = f"epoch {epoch}: best {stopper.monitor} {float(stopper.best):.4f} at epoch {best_epoch}"
    if epoch > best_epoch:
        lr_step = max(0, plateau.patience - plateau.wait)
        text += (f"; learning rate ×{plateau.factor:g} after {lr_step} more epoch(s) without a better one, "
                 f"early stop after {max(0, stopper.patience - stopper.wait)}")
    if stopper.model is not None and stopper.model.stop_training:
        text += "; stopping early"
    return text + ("; checkpoint saved" if saved else "")
