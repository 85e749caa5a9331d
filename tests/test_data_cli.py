"""Bad data reaches the user as one line and exit code 1 through `lanmsff-edge train` (no traceback)."""
import numpy as np
import pytest

from lanmsff_edge.data.testing import encode, write_fer2013_csv, write_fer2013_folders, write_ferplus


@pytest.fixture(autouse=True)
def private_cache(tmp_path, monkeypatch):
    monkeypatch.setenv("LANMSFF_CACHE", str(tmp_path / "cache"))


def _bad_csv(tmp_path):
    path = tmp_path / "fer2013.csv"
    write_fer2013_csv(path, [(0, "Training"), (1, "PublicTest"), (3, "Training", " ".join(["7"] * 2303))])
    return path, r"fer2013.csv line 4: 2303 pixel values, expected 2304"


def _unknown_folder(tmp_path):
    root = tmp_path / "fer"
    write_fer2013_folders(root, [("train", "angry", "Training_1.jpg"), ("test", "sad", "PublicTest_2.jpg")])
    (root / "train" / "joy").mkdir()
    (root / "train" / "joy" / "Training_3.jpg").write_bytes(encode(np.zeros((48, 48), np.uint8), ".jpg"))
    return root, "unknown class folder 'joy'"


def _short_label_row(tmp_path):
    root = tmp_path / "ferplus"
    write_ferplus(root, {"train": [("fer0000000.png", [10] + [0] * 9)], "val": [("fer0000001.png", [10] + [0] * 9)]})
    label = root / "FER2013Train" / "label.csv"
    label.write_text(label.read_text().strip().rsplit(",", 1)[0] + "\n")
    # 11 columns is also the box-less layout Microsoft's generator writes today, so the box lands among the votes
    return root, "FER2013Train/label.csv line 1: vote counts must be whole numbers"


def _empty_dir(tmp_path):
    (tmp_path / "empty").mkdir()
    return tmp_path / "empty", "holds no FERPlus data"


@pytest.mark.parametrize("dataset, make", [("fer2013", _bad_csv), ("fer2013", _unknown_folder),
                                           ("ferplus", _short_label_row), ("ferplus", _empty_dir)])
def test_train_reports_bad_data_in_one_line(run_cli, tmp_path, dataset, make):
    data, message = make(tmp_path)
    result = run_cli("train", "--dataset", dataset, "--data", data, "--out", tmp_path / "run", "--epochs", 1)
    assert result.exit_code == 1
    assert "Traceback" not in result.output
    assert "Error:" in result.output and message in result.output


def test_train_without_data_for_a_real_data_set(run_cli, tmp_path):
    result = run_cli("train", "--dataset", "ferplus", "--out", tmp_path / "run", "--epochs", 1)
    assert result.exit_code == 1 and "needs --data" in result.output
