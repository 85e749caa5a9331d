"""FER-2013: the Kaggle CSV (file, in a folder, in an archive) and the image-folder release; bad input."""
import cv2
import numpy as np
import pytest

from lanmsff_edge.data import CLASS_NAMES, load_dataset
from lanmsff_edge.data.testing import encode, make_tar, make_zip, write_fer2013_csv, write_fer2013_folders
from lanmsff_edge.errors import UserError

USAGES = ["Training", "PublicTest", "Training", "PrivateTest", "Training", "PublicTest"]


@pytest.fixture(autouse=True)
def private_cache(tmp_path, monkeypatch):
    monkeypatch.setenv("LANMSFF_CACHE", str(tmp_path / "cache"))


@pytest.fixture
def fer_csv(tmp_path):
    path = tmp_path / "fer2013" / "fer2013.csv"
    images = write_fer2013_csv(path, [(i % 7, usage) for i, usage in enumerate(USAGES)])
    return path, images


def test_csv_splits_labels_and_row_names(fer_csv):
    path, images = fer_csv
    assert CLASS_NAMES["fer2013"] == ("angry", "disgust", "fear", "happy", "sad", "surprise", "neutral")
    train = load_dataset("fer2013", path, "train")
    assert train.names == ["fer2013.csv row 0", "fer2013.csv row 2", "fer2013.csv row 4"]
    assert train.labels.tolist() == [0, 2, 4]
    np.testing.assert_array_equal(train.images[1], cv2.resize(images[2], (64, 64), interpolation=cv2.INTER_LINEAR))
    assert load_dataset("fer2013", path, "val").labels.tolist() == [1, 5]
    assert load_dataset("fer2013", path, "test").names == ["fer2013.csv row 3"]


def test_csv_inside_a_folder_or_archive(fer_csv, tmp_path):
    path, _ = fer_csv
    direct = load_dataset("fer2013", path, "val")
    in_folder = load_dataset("fer2013", path.parent, "val")
    in_archive = load_dataset("fer2013", make_tar(path.parent, tmp_path / "fer2013.tar.gz"), "val")
    for other in (in_folder, in_archive):
        np.testing.assert_array_equal(other.images, direct.images)
        assert other.labels.tolist() == direct.labels.tolist()


@pytest.mark.parametrize("row, message", [
    ((3, "Training", " ".join(["7"] * 2303)), r"fer2013.csv line 4: 2303 pixel values, expected 2304"),
    ((3, "Training", " ".join(["7"] * 2303 + ["x"])), "line 4: pixels must be integers"),
    ((3, "Training", " ".join(["7"] * 2303 + ["300"])), "line 4: pixel values must lie in 0-255"),
    ((9, "Training", " ".join(["7"] * 2304)), "line 4: emotion '9' is not a label 0-6"),
    ((3, "Validation", " ".join(["7"] * 2304)), "line 4: Usage 'Validation' is not Training"),
])
def test_bad_csv_rows_name_the_line(tmp_path, row, message):
    path = tmp_path / "fer2013.csv"
    write_fer2013_csv(path, [(0, "Training"), (1, "Training"), row])
    with pytest.raises(UserError, match=message):
        load_dataset("fer2013", path, "train")


def test_bad_csv_header_and_missing_split(tmp_path, fer_csv):
    path = tmp_path / "fer2013.csv"
    path.write_text("label,image\n0,1 2 3\n")
    with pytest.raises(UserError, match=r"line 1: missing column\(s\) Usage, emotion, pixels"):
        load_dataset("fer2013", path, "train")
    only_train = tmp_path / "t" / "fer2013.csv"
    write_fer2013_csv(only_train, [(0, "Training")])
    with pytest.raises(UserError, match="has no PrivateTest rows: the test split is not in this copy"):
        load_dataset("fer2013", only_train, "test")


FOLDER_FILES = [
    ("train", "angry", "Training_10.jpg"), ("train", "neutral", "Training_11.jpg"),
    ("train", "happy", "Training_05.jpg"), ("train", "surprise", "Training_20.jpg"),
    ("test", "sad", "PublicTest_3.jpg"), ("test", "neutral", "PublicTest_1.jpg"),
    ("test", "disgust", "PrivateTest_7.jpg"),
]


@pytest.fixture
def fer_folders(tmp_path):
    root = tmp_path / "fer2013"
    return root, write_fer2013_folders(root, FOLDER_FILES)


def test_folder_release_maps_folders_to_csv_order(fer_folders):
    root, written = fer_folders
    train = load_dataset("fer2013", root, "train")
    # sorted by file name, so classes interleave (a --limit takes a mix)
    assert [n.rsplit("/", 1)[-1] for n in train.names] == ["Training_05.jpg", "Training_10.jpg",
                                                           "Training_11.jpg", "Training_20.jpg"]
    assert train.labels.tolist() == [3, 0, 6, 5]  # happy, angry, neutral, surprise in the CSV's order
    val = load_dataset("fer2013", root, "val")
    assert val.labels.tolist() == [6, 4] and all("PublicTest_" in n for n in val.names)
    test = load_dataset("fer2013", root, "test")
    assert test.labels.tolist() == [1] and test.names == ["test/disgust/PrivateTest_7.jpg"]
    # JPEG is lossy: compare loosely with what was written
    source = written["test/disgust/PrivateTest_7.jpg"]
    expected = cv2.resize(source, (64, 64), interpolation=cv2.INTER_LINEAR).astype(int)
    assert np.abs(test.images[0].astype(int) - expected).mean() < 12
    assert len(load_dataset("fer2013", root, "train", limit=2)) == 2


def test_folder_release_in_archives(fer_folders, tmp_path):
    root, _ = fer_folders
    reference = load_dataset("fer2013", root, "val")
    for archive in (make_tar(root, tmp_path / "fer.tar.gz"), make_zip(root, tmp_path / "fer.zip")):
        loaded = load_dataset("fer2013", archive, "val")
        assert loaded.labels.tolist() == reference.labels.tolist()
        np.testing.assert_array_equal(loaded.images, reference.images)


def test_folder_release_bad_input(fer_folders, tmp_path):
    root, _ = fer_folders
    (root / "train" / "happy" / "Training_99.jpg").write_bytes(b"\xff\xd8 truncated jpeg")
    train = load_dataset("fer2013", root, "train")
    assert len(train) == 4 and train.skipped == 1 and train.skipped_names == ["train/happy/Training_99.jpg"]
    (root / "test" / "disgust" / "PrivateTest_7.jpg").unlink()
    with pytest.raises(UserError, match=r"no test/<class>/PrivateTest_\* images: the test split is not in this"):
        load_dataset("fer2013", root, "test")
    (root / "train" / "joy").mkdir()
    (root / "train" / "joy" / "Training_1.jpg").write_bytes(encode(np.zeros((48, 48), np.uint8), ".jpg"))
    with pytest.raises(UserError, match=r"train/joy: unknown class folder 'joy' \(expected angry, disgust"):
        load_dataset("fer2013", root, "train")
    empty = tmp_path / "empty"
    empty.mkdir()
    with pytest.raises(UserError, match="holds no FER-2013 data"):
        load_dataset("fer2013", empty, "train")
