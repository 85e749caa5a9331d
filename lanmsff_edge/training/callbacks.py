"""Keras' plateau and early-stopping callbacks with a resumable state, and the line that says where they stand.

Keras resets ``ReduceLROnPlateau`` and ``EarlyStopping`` in ``on_train_begin``; a resumed run re-applies the
saved counters right after that reset, so the learning-rate schedule and the patience continue exactly.
They are made with ``verbose=0`` (Keras prints to stdout) and say what they did through the package logger.
"""
from lanmsff_edge.keras import keras
from lanmsff_edge.log import get_logger
from lanmsff_edge.training.engine import plain_number as _number

LOGGER = get_logger(__name__)


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

    def _learning_rate(self):
        return float(keras.backend.get_value(self.model.optimizer.learning_rate))

    def on_epoch_end(self, epoch, logs=None):
        before = self._learning_rate()
        super().on_epoch_end(epoch, logs)
        after = self._learning_rate()
        if after < before:
            LOGGER.info(f"epoch {epoch + 1}: {self.monitor} no better for {self.patience} epochs, learning rate "
                        f"{before:.3g} → {after:.3g}")


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

    def on_train_end(self, logs=None):
        super().on_train_end(logs)
        if self.stopped_epoch > 0:
            LOGGER.info(f"early stopping at epoch {self.stopped_epoch + 1}; keeping the weights of epoch "
                        f"{self.best_epoch + 1} (best {self.monitor})")


def cosine_learning_rate(epoch, initial, epochs):
    """``train --schedule cosine``: linear warm-up over ``config.cosine_warmup(epochs)`` epochs, then a cosine from
    ``initial`` down to ``COSINE_FLOOR × initial`` at the last epoch. A function of the epoch alone, so a resumed
    run continues exactly."""
    import math

    from lanmsff_edge.training import config as cfg

    warmup, floor = cfg.cosine_warmup(epochs), cfg.COSINE_FLOOR
    if epoch < warmup:
        return initial * (epoch + 1) / (warmup + 1)
    span = max(1, int(epochs) - warmup - 1)
    progress = min(1.0, (epoch - warmup) / span)
    return initial * (floor + (1.0 - floor) * 0.5 * (1.0 + math.cos(math.pi * progress)))


def cosine_schedule(options):
    """The Keras callback that sets each epoch's learning rate from ``cosine_learning_rate``."""
    initial, epochs = float(options["learning_rate"]), int(options["epochs"])
    return keras.callbacks.LearningRateScheduler(lambda epoch, lr: cosine_learning_rate(epoch, initial, epochs))


def schedule_status(epoch, plateau, stopper, saved=True):
    """One line after an epoch: the best val_loss so far and how many epochs without a better one remain before
    the learning-rate step and before early stopping (what a user watching a long run wants to know)."""
    best_epoch = int(stopper.best_epoch) + 1
    text = f"epoch {epoch}: best {stopper.monitor} {float(stopper.best):.4f} at epoch {best_epoch}"
    if epoch > best_epoch:
        stop = max(0, stopper.patience - stopper.wait)
        if plateau is not None:
            lr_step = max(0, plateau.patience - plateau.wait)
            text += (f"; learning rate ×{plateau.factor:g} after {lr_step} more epoch(s) without a better one, "
                     f"early stop after {stop}")
        else:
            text += f"; early stop after {stop} more epoch(s) without a better one"
    if stopper.model is not None and stopper.model.stop_training:
        text += "; stopping early"
    return text + ("; checkpoint saved" if saved else "")
