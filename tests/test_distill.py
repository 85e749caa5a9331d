"""`train --teacher`: a trained model's predictions mixed into the targets (offline knowledge distillation)."""
import json
import shutil

import numpy as np
import pytest

from lanmsff_edge.errors import UserError


def _images(labels, votes=None, classes=3):
    from lanmsff_edge.data.common import LabeledImages

    labels = np.asarray(labels, np.int64)
    return LabeledImages(dataset="toy", split="train", class_names=tuple(f"c{i}" for i in range(classes)),
                         images=np.zeros((len(labels), 64, 64), np.uint8), labels=labels,
                         votes=None if votes is None else np.asarray(votes, np.float32))


def test_targets_are_the_weighted_mix_of_labels_or_votes_and_the_teacher():
    from lanmsff_edge.training.distill import distilled

    teacher = np.array([[0.2, 0.7, 0.1], [0.5, 0.25, 0.25]], np.float32)
    mixed = distilled(_images([0, 2]), teacher, 0.25, soft_base=False).votes
    np.testing.assert_allclose(mixed, [[0.8, 0.175, 0.025], [0.125, 0.0625, 0.8125]], rtol=1e-6)
    votes = [[0.6, 0.4, 0.0], [0.0, 0.3, 0.7]]
    mixed = distilled(_images([0, 2], votes), teacher, 0.5, soft_base=True).votes
    np.testing.assert_allclose(mixed, [[0.4, 0.55, 0.05], [0.25, 0.275, 0.475]], rtol=1e-6)
    np.testing.assert_allclose(mixed.sum(axis=1), 1.0, rtol=1e-6)
    only_labels = distilled(_images([1, 0]), teacher, 0.0, soft_base=False).votes
    assert only_labels.tolist() == [[0, 1, 0], [1, 0, 0]]
    np.testing.assert_allclose(distilled(_images([1, 0]), teacher, 1.0, soft_base=False).votes, teacher, rtol=1e-6)
    with pytest.raises(UserError, match="between 0 and 1"):
        distilled(_images([0, 2]), teacher, 1.5, soft_base=False)
    with pytest.raises(UserError, match="no vote distributions"):
        distilled(_images([0, 2]), teacher, 0.5, soft_base=True)


def test_a_teacher_with_other_classes_is_refused(tmp_path):
    from lanmsff_edge.keras import keras
    from lanmsff_edge.model import build_model, save_model
    from lanmsff_edge.training.distill import teacher_probabilities

    keras.utils.set_random_seed(0)
    path = tmp_path / "seven.keras"
    save_model(build_model(7, width=0.25), path)
    with pytest.raises(UserError, match="has 7 classes but toy has 8"):
        teacher_probabilities(path, _images([0, 1], classes=8), "seven.keras")


@pytest.mark.slow
def test_teacher_predictions_are_cached_by_the_teacher_and_image_content(tmp_path, tiny_lanmsff, monkeypatch):
    import lanmsff_edge.runtimes as runtimes
    from lanmsff_edge.training.distill import teacher_probabilities

    monkeypatch.setenv("LANMSFF_CACHE", str(tmp_path / "cache"))
    teacher = tmp_path / "teacher.keras"
    shutil.copyfile(tiny_lanmsff[1], teacher)
    images = _images([0, 1, 2], classes=8)
    images.images[1] = 200  # distinct faces, distinct predictions
    first = teacher_probabilities(teacher, images)
    assert len(list((tmp_path / "cache" / "teacher").glob("*.npy"))) == 1
    calls = []
    real = runtimes.predict_faces
    monkeypatch.setattr(runtimes, "predict_faces", lambda *a: calls.append(1) or real(*a))
    np.testing.assert_array_equal(teacher_probabilities(teacher, images), first)
    assert calls == []  # from the cache
    other_images = _images([0, 1, 2], classes=8)
    teacher_probabilities(teacher, other_images)
    assert calls == [1]  # other pixels: predicted again
    from lanmsff_edge.model import build_model, save_model

    save_model(build_model(8, width=0.25), teacher)  # another teacher under the same name
    teacher_probabilities(teacher, images)
    assert calls == [1, 1]
    for entry in (tmp_path / "cache" / "teacher").glob("*.npy"):
        entry.write_bytes(b"damaged")
    np.testing.assert_array_equal(teacher_probabilities(teacher, other_images).shape, (3, 8))
    assert calls == [1, 1, 1]  # a damaged entry is predicted again, not an error


def test_a_teacher_weight_needs_a_teacher(tmp_path, run_cli):
    result = run_cli("train", "--dataset", "synthetic", "--teacher-weight", 0.3, "--out", tmp_path / "run")
    assert result.exit_code == 1 and "give --teacher" in result.output
    assert not (tmp_path / "run" / "config.json").exists()


@pytest.mark.slow
def test_a_distilled_run_records_its_teacher_and_refuses_another_on_resume(tmp_path, tiny_lanmsff, run_cli,
                                                                           monkeypatch):
    from lanmsff_edge.data import load_dataset
    from lanmsff_edge.runtimes import open_runtime, predict_faces

    monkeypatch.setenv("LANMSFF_CACHE", str(tmp_path / "cache"))
    teacher = tmp_path / "teacher.keras"
    shutil.copyfile(tiny_lanmsff[1], teacher)
    out = tmp_path / "student"
    tiny = ("--dataset", "synthetic", "--limit", 48, "--width", 0.25, "--batch-size", 16, "--augment", "none")
    result = run_cli("train", *tiny, "--epochs", 1, "--teacher", teacher, "--teacher-weight", 0.7, "--out", out)
    assert result.exit_code == 0, result.output
    train = load_dataset("synthetic", None, "train", limit=48)
    agreement = np.mean(predict_faces(open_runtime(teacher), train.images).argmax(1) == train.labels)
    assert f"agrees with {100 * agreement:.1f} % of the 48 training labels" in result.output
    config = json.loads((out / "config.json").read_text())
    assert config["options"]["teacher"] == str(teacher) and config["options"]["teacher_weight"] == 0.7
    assert "0.3 × (one-hot majority label) + 0.7 × the predictions of teacher" in config["recipe"]["targets"]
    assert len(config["teacher"]["sha256"]) == 64 and config["teacher"]["path"] == str(teacher)
    shutil.copyfile(out / "model.keras", teacher)  # another model under the same name
    result = run_cli("train", "--out", out, "--resume", "--epochs", 2)
    assert result.exit_code == 1 and "is not the file the run started with" in result.output
    result = run_cli("train", "--out", out, "--resume", "--epochs", 2, "--teacher-weight", 0.2)
    assert result.exit_code == 1 and "teacher_weight is 0.2 but the run was started with 0.7" in result.output
    shutil.copyfile(tiny_lanmsff[1], teacher)  # the teacher it started with: the run goes on
    result = run_cli("train", "--out", out, "--resume", "--epochs", 2)
    assert result.exit_code == 0, result.output
    assert len((out / "history.csv").read_text().splitlines()) == 3
