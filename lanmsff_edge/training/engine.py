"""The one resumable Keras fit, used by ``train`` and by QAT fine-tuning (``quantize.qat.fine_tune``).

A fit is resumable when, after every epoch, one checkpoint file (``checkpoint.py``'s format) holds what the next
epoch needs: weights, optimizer state, the best weights so far, and a JSON state with ``epoch`` (finished epochs),
``history`` (rows, see ``history.py``) and what the caller's trackers keep (training: the plateau and
early-stopping counters; QAT: the best validation accuracy). The pieces:

- ``start(checkpoint, seed, fresh)`` → ``(initial_epoch, state)``, seeding epoch e with ``seed + e``;
- ``training_data(images, augment, …)``: the one place that turns an augmentation choice into the training
  input;
- ``FitRecorder``: the epoch-end callback that appends the history row, updates the state and writes the checkpoint
  (plus the caller's files, in one artifact group) — or, on a non-chief worker, only keeps the books;
- ``KeepBest``: the best-epoch tracker for fits without early stopping (QAT);
- ``ProgressLog``: Keras' progress, as log lines on stderr (a line every ``PROGRESS_EVERY`` seconds inside an
  epoch, one when it ends), so a command's stdout holds only results and ``-q`` silences it;
- ``run(model, data, …)``: ``model.fit`` from ``initial_epoch`` with trackers → recorder → extra callbacks.

What a resume may not change, and the augmentation choices, are in ``settings.py`` (no TensorFlow needed).
"""
import math
import time

import numpy as np

from lanmsff_edge.artifacts import checkpoint as ckpt
from lanmsff_edge.atomic import artifact_group
from lanmsff_edge.keras import keras
from lanmsff_edge.log import get_logger
from lanmsff_edge.training import history as hist
from lanmsff_edge.training.settings import check_augment

LOGGER = get_logger(__name__)


def start(checkpoint, seed, fresh=None):
    """Where a fit begins: ``(initial_epoch, state)`` from ``checkpoint`` (None: epoch 0, empty history), with
    the ``fresh`` dict set over the saved state. Seeds Python, NumPy and TensorFlow with ``seed + initial_epoch``."""
    if checkpoint is None:
        initial_epoch, state = 0, {"epoch": 0, "history": []}
    else:
        initial_epoch, state = checkpoint.epoch, dict(checkpoint.state)
        state["history"] = hist.rows(state.get("history"))
    state.update(fresh or {})
    keras.utils.set_random_seed(int(seed) + initial_epoch)
    return initial_epoch, state


def training_data(images, augment, batch_size, seed, initial_epoch=0, soft_targets=False):
    """The shuffled training input of ``images`` (``LabeledImages``): "paper" is the offline ×4 expansion, seeded
    with ``seed`` (the same images every epoch and after a resume), "online" random flips and shifts per batch,
    "none" the images as they are. The shuffle order starts from ``seed + initial_epoch``. ``soft_targets``: the
    images' vote distributions instead of one-hot labels. Returns the dataset and the number of images in one
    epoch."""
    from lanmsff_edge.data import make_tf_dataset, paper_augment

    if check_augment(augment) == "paper":
        images, augment = paper_augment(images, seed=seed), "none"
    data = make_tf_dataset(images, batch_size=int(batch_size), augment=augment, shuffle=True,
                           seed=int(seed) + initial_epoch, soft_targets=soft_targets)
    return data, len(images)


def plain_number(value):
    """JSON-safe float (±inf and NaN as the strings json can carry)."""
    value = float(value)
    return value if math.isfinite(value) else repr(value)


class KeepBest(keras.callbacks.Callback):
    """Track the epoch with the highest ``monitor`` value; restore its weights when training ends."""

    def __init__(self, monitor="val_accuracy"):
        super().__init__()
        self.monitor, self.best, self.best_weights, self.best_epoch = monitor, -np.inf, None, None

    def on_epoch_end(self, epoch, logs=None):
        value = (logs or {}).get(self.monitor)
        if value is not None and value > self.best:
            self.best, self.best_weights, self.best_epoch = value, self.model.get_weights(), epoch + 1

    def on_train_end(self, logs=None):
        if self.best_weights is not None:
            self.model.set_weights(self.best_weights)

    def get_state(self):
        return {"best": None if self.best == -np.inf else float(self.best), "best_epoch": self.best_epoch}

    def restore(self, state, best_weights):
        """Continue from a checkpoint's ``state`` (``get_state``'s keys) and best weights."""
        if state.get("best") is not None:
            self.best, self.best_epoch, self.best_weights = state["best"], state["best_epoch"], best_weights


class FitRecorder(keras.callbacks.Callback):
    """After every epoch: append the history row to ``state``, update ``state`` from ``state_of(model)`` (the
    trackers' counters), and — with a ``path`` — save the checkpoint and ``files(state)`` atomically together (a
    kill leaves both of one epoch, never a mix). ``write=False`` (a non-chief worker) captures but writes nothing.

    Comes after the trackers in the callback list, so their verdict on this epoch is saved. ``best`` has the
    ``best_weights`` the checkpoint keeps (None: the current weights are the best). ``status(epoch, row)``: one line
    per epoch, logged with ``announce`` (after ``ProgressLog``'s line of the epoch).
    """

    def __init__(self, state, path=None, best=None, state_of=None, write=True, files=None, status=None, announce=False):
        super().__init__()
        self.state, self.path, self.best, self.state_of = state, path, best, state_of
        self.write, self.files, self.status, self.announce = write, files, status, announce

    def on_epoch_end(self, epoch, logs=None):
        entry = hist.row(epoch, logs)
        self.state.setdefault("history", []).append(entry)
        self.state["epoch"] = epoch + 1
        if self.state_of is not None:
            self.state.update(self.state_of(self.model))
        if self.path is not None:
            self.save()
        if self.announce and self.status is not None:
            LOGGER.info(self.status(epoch + 1, entry))

    def save(self):
        """Every worker captures (reading the variables may be a collective all must join); the writer saves."""
        best_weights = None if self.best is None else self.best.best_weights
        snapshot = ckpt.capture(self.model, self.state, best_weights=best_weights)
        if not self.write:
            return
        if self.files is None:
            ckpt.save(snapshot, self.path)
            return
        with artifact_group():
            ckpt.save(snapshot, self.path)
            self.files(self.state)


PROGRESS_EVERY = 20.0  # seconds between two progress lines inside one epoch


def _metrics_text(logs):
    return "  ".join(f"{key} {float(value):.4f}" for key, value in (logs or {}).items()
                     if key != "learning_rate" and np.ndim(value) == 0)


class ProgressLog(keras.callbacks.Callback):
    """Keras' progress as log lines (INFO, on stderr): ``epoch 2/4: batch 30/75, loss 1.2345 … (21 s)`` every
    ``every`` seconds inside an epoch, and ``epoch 2/4: 75 batches in 52 s, loss … val_accuracy …`` at its end.
    Keras' own progress bar writes to stdout, among a command's results; this replaces it (``fit(verbose=0)``)."""

    def __init__(self, epochs, every=PROGRESS_EVERY, clock=time.monotonic, epoch_lines=True):
        super().__init__()
        self.epochs, self.every, self.clock, self.epoch_lines = int(epochs), float(every), clock, epoch_lines
        self.started = self.last = 0.0

    def on_epoch_begin(self, epoch, logs=None):
        self.epoch = epoch + 1
        self.started = self.last = self.clock()

    def on_train_batch_end(self, batch, logs=None):
        now = self.clock()
        if now - self.last >= self.every:
            self.last = now
            steps = self.params.get("steps") if self.params else None
            where = f"batch {batch + 1}" + (f"/{steps}" if steps else "")
            LOGGER.info(f"epoch {self.epoch}/{self.epochs}: {where}, {_metrics_text(logs)} "
                        f"({now - self.started:.0f} s)")

    def on_epoch_end(self, epoch, logs=None):
        if not self.epoch_lines:
            return
        steps = self.params.get("steps") if self.params else None
        batches = f"{steps} batches in " if steps else ""
        LOGGER.info(f"epoch {epoch + 1}/{self.epochs}: {batches}{self.clock() - self.started:.0f} s, "
                    f"{_metrics_text(logs)}")


def run(model, train_data, *, epochs, initial_epoch, recorder, trackers=(), val_data=None, callbacks=(),
        verbose=0, epoch_lines=True):
    """``model.fit`` for epochs ``initial_epoch + 1 … epochs``: trackers, then the recorder, then ``callbacks``.
    ``verbose``: log the progress (``ProgressLog``, before the recorder's line of the epoch; ``epoch_lines=False``
    when the recorder's line already gives the epoch's metrics); Keras itself prints nothing."""
    progress = [ProgressLog(epochs, epoch_lines=epoch_lines)] if verbose else []
    return model.fit(train_data, validation_data=val_data, epochs=int(epochs), initial_epoch=int(initial_epoch),
                     callbacks=[*trackers, *progress, recorder, *callbacks], verbose=0)
