"""RAN pose lists: matching by FER-2013 image number, pose tags, overlapping lists, bad lists."""
import numpy as np
import pytest

from lanmsff_edge.data import load_dataset
from lanmsff_edge.data.poselists import image_number, read_pose_list
from lanmsff_edge.data.testing import write_fer2013_csv, write_fer2013_folders, write_ferplus
from lanmsff_edge.errors import UserError


@pytest.fixture(autouse=True)
def private_cache(tmp_path, monkeypatch):
    monkeypatch.setenv("LANMSFF_CACHE", str(tmp_path / "cache"))


@pytest.fixture
def ferplus_dir(tmp_path):
    votes = {  # label index → a unanimous vote row
        label: [10 if i == label else 0 for i in range(10)] for label in range(8)
    }
    rows = [(f"fer00322{20 + i:02d}.png", votes[i % 8]) for i in range(10)]  # fer0032220 … fer0032229
    write_ferplus(tmp_path / "ferplus", {"test": rows})
    return tmp_path / "ferplus"


def _write_list(path, entries):
    path.write_text("".join(f"{label}/fer{number:07d}.jpg\n" for label, number in entries))
    return path


def test_image_numbers():
    assert image_number("fer0032226.png") == 32226
    assert image_number("FER2013Test/fer0000007.png") == 7
    assert image_number("fer2013.csv row 32226") == 32226
    assert image_number("test/angry/PublicTest_10116449.jpg") is None


def test_lists_select_and_tag_ferplus_images(ferplus_dir, tmp_path):
    over30 = _write_list(tmp_path / "pose_30.txt", [(6, 32226), (2, 32222), (0, 32220), (1, 39999)])
    over45 = _write_list(tmp_path / "pose_45.txt", [(6, 32226)])  # a subset of the >30° list, as in RAN's
    images = load_dataset("ferplus", ferplus_dir, "test", pose_lists=[over30, over45])
    assert images.names == ["fer0032220.png", "fer0032222.png", "fer0032226.png", "fer0032226.png"]
    assert list(images.poses) == ["pose_30", "pose_30", "pose_30", "pose_45"]
    assert images.labels.tolist() == [0, 2, 6, 6]  # the data set's labels
    np.testing.assert_array_equal(images.images[2], images.images[3])
    assert len(load_dataset("ferplus", ferplus_dir, "test", pose_lists=[over30], limit=2)) == 2


def test_lists_select_fer2013_csv_rows(tmp_path):
    path = tmp_path / "fer2013.csv"
    write_fer2013_csv(path, [(i % 7, "Training" if i < 4 else "PrivateTest") for i in range(8)])
    listed = _write_list(tmp_path / "profile.txt", [(0, 5), (3, 7), (1, 2)])  # row 2 is Training: not in test
    images = load_dataset("fer2013", path, "test", pose_lists=[listed])
    assert images.names == ["fer2013.csv row 5", "fer2013.csv row 7"]
    assert images.labels.tolist() == [5, 0] and list(images.poses) == ["profile", "profile"]


def test_folder_release_cannot_use_pose_lists(tmp_path):
    write_fer2013_folders(tmp_path / "fer", [("test", "sad", "PublicTest_3.jpg")])
    listed = _write_list(tmp_path / "p.txt", [(0, 3)])
    with pytest.raises(UserError, match="image-folder release of FER-2013 has no row numbers, use its fer2013.csv"):
        load_dataset("fer2013", tmp_path / "fer", "val", pose_lists=[listed])


def test_bad_pose_lists(ferplus_dir, tmp_path):
    bad = tmp_path / "bad.txt"
    bad.write_text("0/fer0032220.jpg\n\nfer0032221.jpg\n")
    with pytest.raises(UserError, match=r"bad.txt line 3: expected 'label/fer0032226.jpg'"):
        read_pose_list(bad)
    bad.write_text("9/fer0032220.jpg\n")
    with pytest.raises(UserError, match="line 1: label 9 is not 0-7"):
        read_pose_list(bad)
    bad.write_text("\n")
    with pytest.raises(UserError, match="is empty"):
        read_pose_list(bad)
    with pytest.raises(UserError, match="no such file"):
        load_dataset("ferplus", ferplus_dir, "test", pose_lists=[tmp_path / "absent.txt"])
    elsewhere = _write_list(tmp_path / "elsewhere.txt", [(0, 1), (0, 2)])
    with pytest.raises(UserError, match="none of its 2 images is in the ferplus test split"):
        load_dataset("ferplus", ferplus_dir, "test", pose_lists=[elsewhere])
    assert read_pose_list(_write_list(tmp_path / "ok.txt", [(7, 32229)])) == ("ok", [32229])
