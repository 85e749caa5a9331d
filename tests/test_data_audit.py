"""The data checks: a blurred split, copies between splits, blank images, missing classes; check-data and train."""
import dataclasses
import json

import cv2
import numpy as np
import pytest

from lanmsff_edge.data.audit import audit, sharpness
from lanmsff_edge.data.synthetic import generate
from lanmsff_edge.data.testing import encode, write_fer2013_folders


def _blurred(images):
    return np.stack([cv2.GaussianBlur(image, (0, 0), 3) for image in images])


@pytest.fixture(scope="module")
def splits():
    return generate("train", size=64, seed=1), generate("val", size=32, seed=1)


def test_clean_splits_have_no_findings(splits):
    report = audit(list(splits))
    assert report["findings"] == []
    assert [s["split"] for s in report["splits"]] == ["train", "val"] and report["splits"][0]["images"] == 64


def test_a_blurred_split_is_named_with_both_sharpness_figures(splits):
    train, val = splits
    assert np.median(sharpness(_blurred(train.images))) < np.median(sharpness(train.images)) / 10
    blurred = dataclasses.replace(train, images=_blurred(train.images))
    findings = audit([blurred, val])["findings"]
    assert len(findings) == 1 and findings[0].startswith("train images are far blurrier than val (median sharpness")
    # a mild difference (a softer camera, JPEG) is not flagged
    softer = dataclasses.replace(train, images=np.stack([cv2.GaussianBlur(i, (3, 3), 0.5) for i in train.images]))
    assert audit([softer, val])["findings"] == []


def test_copies_blank_images_and_missing_classes_are_counted(splits):
    train, val = splits
    images = train.images.copy()
    images[:3] = val.images[:3]  # three validation faces leaked into training
    images[10] = 128
    labels = np.where(train.labels == 7, 0, train.labels)  # no contempt in training
    findings = audit([dataclasses.replace(train, images=images, labels=labels), val])["findings"]
    assert "1 train image(s) are blank (a single gray level)" in findings
    assert "train has no images of contempt" in findings
    assert any(f.startswith("3 of 32 val images (9.4 %) are pixel-identical to train images") for f in findings)


def test_check_data_reports_a_degraded_training_copy_and_strict_fails(run_cli, tmp_path):
    root = tmp_path / "fer2013"
    files = [("train", cls, f"Training_{i}{j}.jpg")
             for i, cls in enumerate(["angry", "happy", "sad"]) for j in range(4)]
    files += [("test", cls, f"PublicTest_{i}.jpg") for i, cls in enumerate(["angry", "happy", "sad"])]
    written = write_fer2013_folders(root, files)
    for name, image in written.items():
        if name.startswith("train/"):
            (root / name).write_bytes(encode(cv2.GaussianBlur(image, (0, 0), 3), ".jpg"))
    args = ["check-data", "--dataset", "fer2013", "--data", root, "--json", tmp_path / "checks.json"]
    result = run_cli(*args)
    assert result.exit_code == 0, result.output
    assert "warning: train images are far blurrier than val" in result.output
    assert "val has no images of disgust, fear, surprise, neutral" in result.output
    report = json.loads((tmp_path / "checks.json").read_text())
    assert report["splits"][0]["images"] == 12 and report["splits"][1]["images"] == 3
    result = run_cli(*args, "--strict")
    assert result.exit_code == 1 and "finding(s) in fer2013 (--strict)" in result.output


@pytest.mark.slow
def test_train_warns_and_records_the_findings(splits, tmp_path, capsys):
    from lanmsff_edge import train

    train_images, val = splits
    blurred = dataclasses.replace(train_images, images=_blurred(train_images.images))
    train(blurred, val=val, out=tmp_path / "run", epochs=1, batch_size=16, width=0.25, augment="none", verbose=0)
    assert "warning: train images are far blurrier than val" in capsys.readouterr().err
    config = json.loads((tmp_path / "run" / "config.json").read_text())
    assert any("far blurrier" in finding for finding in config["data_checks"]["findings"])
