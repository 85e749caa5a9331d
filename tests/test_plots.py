"""Figures: the training curves of a run (what a user watches during a long training)."""
import numpy as np
import pytest
from PIL import Image

from lanmsff_edge.plots import learning_rate_steps, save_training_curves_png


def _history(lrs):
    return [{"epoch": str(i + 1), "loss": str(1.0 / (i + 1)), "accuracy": str(0.5 + 0.01 * i),
             "val_loss": str(1.2 / (i + 1) + (0.3 if i == 3 else 0.0)), "val_accuracy": str(0.45 + 0.01 * i),
             "lr": str(lr)} for i, lr in enumerate(lrs)]


def test_learning_rate_steps_are_the_epochs_that_start_a_new_rate():
    lrs = [0.0010000000474974513] * 3 + [1e-4] * 2 + [1.0000000474974514e-05]
    assert learning_rate_steps(_history(lrs)) == [4, 6]
    assert learning_rate_steps(_history([1e-3] * 4)) == []
    assert learning_rate_steps([{"epoch": 1, "lr": ""}, {"epoch": 2, "lr": 1e-4}]) == []  # no rate recorded


def test_training_curves_are_written_as_a_png(tmp_path):
    path = save_training_curves_png(_history([1e-3] * 3 + [1e-4] * 3), tmp_path / "history.png", title="run")
    with Image.open(path) as image:
        assert image.format == "PNG" and image.width > 600 and image.height > 200
        pixels = np.asarray(image.convert("L"))
    assert pixels.std() > 10  # drawn, not blank
    with pytest.raises(ValueError, match="no epochs"):
        save_training_curves_png([], tmp_path / "empty.png")
    assert not (tmp_path / "empty.png").exists()
