"""evaluate --tta: the views are the documented ones, their probabilities are averaged, the single crop stays the
headline."""
import numpy as np
import pytest

from lanmsff_edge.data.common import LabeledImages
from lanmsff_edge.errors import UserError
from lanmsff_edge.runtimes import FunctionRuntime


def faces(count=6, seed=0):
    rng = np.random.default_rng(seed)
    return rng.integers(0, 256, (count, 64, 64), dtype=np.uint8)


def left_brighter(x):
    """A 'model' that answers class 0 when the left half is brighter, else class 1: mirror images disagree."""
    left, right = x[:, :, :32].mean(axis=(1, 2, 3)), x[:, :, 32:].mean(axis=(1, 2, 3))
    return np.eye(2, dtype=np.float32)[(left <= right).astype(int)]


def test_flip_and_crop_views():
    from lanmsff_edge.evaluation.tta import CROP, views

    images = faces()
    original, mirrored = views(images, "flip")
    assert np.array_equal(original, images) and np.array_equal(mirrored, images[:, :, ::-1])
    crops = views(images, "crops")
    assert len(crops) == 10 and all(crop.shape == images.shape and crop.dtype == np.uint8 for crop in crops)
    for crop, mirror in zip(crops[:5], crops[5:]):
        assert np.array_equal(mirror, crop[:, :, ::-1])
    ramp = np.tile(np.arange(64, dtype=np.uint8) * 4, (1, 64, 1))  # brightness grows left → right
    corners = [view.mean() for view in views(ramp, "crops")[:4]]
    assert corners[0] < corners[1] and corners[2] < corners[3]  # left crops darker than right ones
    assert len({tuple(view.shape) for view in views(ramp, "crops")}) == 1 and CROP < 64
    with pytest.raises(UserError, match="--tta"):
        views(images, "rotate")


def test_tta_averages_views_and_reports_beside_the_single_crop():
    from lanmsff_edge.evaluation import evaluate, format_report
    from lanmsff_edge.evaluation.tta import tta_probabilities

    images = faces(8)
    runtime = FunctionRuntime(left_brighter, 2)
    probabilities, count = tta_probabilities(runtime, images, "flip")
    assert count == 2 and np.allclose(probabilities, 0.5)  # the mirror always says the other class
    split = LabeledImages("synthetic", "val", ("a", "b"), images, (images[:, :, :32].mean((1, 2)) <=
                                                                 images[:, :, 32:].mean((1, 2))).astype(np.int64))
    metrics = evaluate(runtime, split, tta="flip")
    assert metrics["accuracy"] == 1.0  # the single crop: the model is right on every face
    tta = metrics["tta"]
    assert tta["views"] == 2 and tta["mode"] == "flip" and tta["vs_single_crop"]["images"] == 8
    assert tta["accuracy"] == np.mean(split.labels == 0)  # ties go to class 0 (argmax)
    report = format_report(metrics)
    assert "accuracy, TTA flip" in report and "deployable" in report
    assert "tta" not in evaluate(runtime, split)


def test_cli_tta_choice_is_checked(run_cli):
    result = run_cli(["evaluate", "--model", "ferplus:int8", "--dataset", "synthetic", "--tta", "tencrop"])
    assert result.exit_code == 2 and "tencrop" in result.output
