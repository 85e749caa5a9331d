"""QAT fine-tuning that survives an interruption: one ``<stem>.qat_checkpoint.npz`` beside OUT, after every epoch.

A full-size LANMSFF fine-tunes on FERPlus for about 9 minutes per epoch on an idle 2-core CPU (20–30 beside a
training), so ``quantize --resume`` continues at the next epoch instead of starting over. The file is the training
checkpoint's format (``artifacts/checkpoint.py``), written by the fit engine (``training/engine.py``) as training's
is: the quantization-aware model's weights (the fake-quant ranges included), Adam's state, the best epoch's weights,
the history (rows; files written before held a dict of lists, still read), and the settings the fine-tuning ran
with — a resume under other settings (another model file, learning rate, seed, data …) is refused rather than
mixed. The file is removed once the ``.tflite`` is written.
"""
import hashlib
from pathlib import Path

from lanmsff_edge.artifacts import checkpoint as ckpt
from lanmsff_edge.errors import UserError
from lanmsff_edge.training.settings import changed_settings

SUFFIX = ".qat_checkpoint.npz"


def checkpoint_path(out):
    out = Path(out)
    return out.with_name(f"{out.stem}{SUFFIX}")


def weights_digest(model):
    """sha256 of a model's weights: which float model the fine-tuning started from. The weights, not the file: a
    ``.keras`` zip differs byte for byte each time it is saved (``best.keras`` of a run still training is)."""
    digest = hashlib.sha256()
    for weight in model.get_weights():
        digest.update(str(weight.shape).encode())
        digest.update(weight.tobytes())
    return digest.hexdigest()


def open_for(path, resume, settings, epochs):
    """The checkpoint to continue (``resume``), or None to start at epoch 1.

    Without ``resume`` an existing checkpoint is an error: it holds finished epochs that a fresh start would
    overwrite. With ``resume`` its settings must equal ``settings`` (``epochs`` may grow, not shrink).
    """
    path = Path(path)
    if not path.exists():
        return None
    if not resume:
        done = ckpt.load(path).epoch
        raise UserError(f"{path} holds {done} finished QAT epoch(s) of an interrupted run: continue it with "
                        "--resume, or delete the file to start over")
    checkpoint = ckpt.load(path)
    saved = checkpoint.state.get("settings", {})
    changed = [f"{key} {old!r} → {new!r}"
               for key, old, new in changed_settings(saved, settings, sorted(set(saved) | set(settings)))]
    if changed:
        raise UserError(f"--resume: {path} was fine-tuned with other settings ({'; '.join(changed)}): rerun with "
                        "the original ones, or delete the file to start over")
    if checkpoint.epoch > int(epochs):
        raise UserError(f"--resume: {path} already holds {checkpoint.epoch} QAT epochs, more than --epochs {epochs}")
    return checkpoint
