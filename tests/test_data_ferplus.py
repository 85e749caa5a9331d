"""FERPlus: the majority rule, Microsoft's folder layout (directory and archive), fer2013new.csv, bad input."""
import numpy as np
import pytest

from lanmsff_edge.data import CLASS_NAMES, load_dataset
from lanmsff_edge.data.ferplus import majority_label
from lanmsff_edge.data.testing import make_tar, write_fer2013_csv, write_ferplus
from lanmsff_edge.errors import UserError

#         neu hap sur sad ang dis fea con unk NF
VOTES = {
    "fer0000000.png": [10, 0, 0, 0, 0, 0, 0, 0, 0, 0],  # unanimous neutral → 0
    "fer0000001.png": [0, 6, 1, 1, 1, 1, 0, 0, 0, 0],  # single votes dropped: 6 of 6 → happiness
    "fer0000002.png": [5, 5, 0, 0, 0, 0, 0, 0, 0, 0],  # tie: 5 is not more than half of 10 → dropped
    "fer0000003.png": [0, 0, 0, 0, 0, 0, 0, 3, 0, 0],  # contempt → 7
    "fer0000004.png": [0, 0, 0, 0, 0, 0, 0, 0, 7, 3],  # unknown wins → dropped
    "fer0000005.png": [0, 0, 0, 0, 0, 0, 0, 0, 2, 8],  # not a face wins → dropped
    "fer0000006.png": [1, 1, 1, 1, 1, 1, 1, 1, 1, 1],  # only single votes → nothing left → dropped
    "fer0000007.png": [3, 0, 0, 2, 0, 0, 0, 0, 0, 0],  # 3 of 5 > half → neutral
    "fer0000008.png": [4, 0, 0, 4, 0, 0, 0, 0, 1, 1],  # 4 of 8 after dropping the 1s: not > half → dropped
    "fer0000009.png": [0, 0, 2, 1, 0, 0, 0, 0, 0, 0],  # 2 of 2 after dropping the 1 → surprise
    "fer0000010.png": [0, 0, 0, 0, 4, 3, 0, 0, 0, 0],  # 4 of 7 → anger
}
EXPECTED = {"fer0000000.png": 0, "fer0000001.png": 1, "fer0000003.png": 7, "fer0000007.png": 0,
            "fer0000009.png": 2, "fer0000010.png": 4}


@pytest.fixture(autouse=True)
def private_cache(tmp_path, monkeypatch):
    monkeypatch.setenv("LANMSFF_CACHE", str(tmp_path / "cache"))


@pytest.mark.parametrize("name", sorted(VOTES))
def test_majority_rule(name):
    assert majority_label(VOTES[name]) == EXPECTED.get(name)


@pytest.fixture
def ferplus_dir(tmp_path):
    rows = {
        "train": list(VOTES.items()),
        "val": [("fer0000020.png", [0, 9, 0, 0, 0, 0, 0, 1, 0, 0]), ("fer0000021.png", [0, 0, 0, 0, 0, 8, 2, 0, 0, 0])],
    }
    images = write_ferplus(tmp_path / "ferplus", rows)
    return tmp_path / "ferplus", images


def test_microsoft_layout_keeps_majority_images_in_file_order(ferplus_dir):
    root, written = ferplus_dir
    train = load_dataset("ferplus", root, "train")
    assert train.class_names == CLASS_NAMES["ferplus"] and len(CLASS_NAMES["ferplus"]) == 8
    assert train.names == [n for n in VOTES if n in EXPECTED]
    assert train.labels.tolist() == [EXPECTED[n] for n in train.names]
    assert train.images.shape == (6, 64, 64) and train.images.dtype == np.uint8
    assert train.skipped == 0 and train.poses is None
    # 48×48 → 64×64 bilinear keeps the picture: the bright square is still where it was
    import cv2
    expected = cv2.resize(written["fer0000001.png"], (64, 64), interpolation=cv2.INTER_LINEAR)
    np.testing.assert_array_equal(train.images[1], expected)
    val = load_dataset("ferplus", root, "val")
    assert val.labels.tolist() == [1, 5] and val.split == "val"


def test_archive_reads_like_the_directory(ferplus_dir, tmp_path):
    root, _ = ferplus_dir
    archive = make_tar(root, tmp_path / "ferplus.tar.gz")
    from_dir = load_dataset("ferplus", root, "train")
    from_archive = load_dataset("ferplus", archive, "train")
    assert from_archive.names == from_dir.names
    np.testing.assert_array_equal(from_archive.images, from_dir.images)
    np.testing.assert_array_equal(from_archive.labels, from_dir.labels)
    # the parent folder works too (the data set is found one level down)
    assert len(load_dataset("ferplus", tmp_path, "val")) == 2


def test_corrupt_and_missing_images_are_skipped_and_counted(ferplus_dir):
    root, _ = ferplus_dir
    (root / "FER2013Train" / "fer0000003.png").write_bytes(b"not a png at all")
    (root / "FER2013Train" / "fer0000007.png").unlink()
    train = load_dataset("ferplus", root, "train")
    assert len(train) == 4 and train.skipped == 2
    assert sorted(train.skipped_names) == ["fer0000003.png", "fer0000007.png (no such file)"]
    assert "fer0000003.png" not in train.names
    assert train.skipped_text() == ("2 train image(s) could not be used: 1 missing, no such file (fer0000007.png); "
                                    "1 could not be decoded (fer0000003.png)")


def test_wrong_column_count_names_file_and_line(ferplus_dir):
    root, _ = ferplus_dir
    label = root / "FER2013Train" / "label.csv"
    lines = label.read_text().splitlines()
    lines[2] = lines[2].rsplit(",", 2)[0]  # 10 columns
    label.write_text("\n".join(lines) + "\n")
    with pytest.raises(UserError, match=r"FER2013Train/label.csv line 3: 10 columns, expected 12 .* or 11"):
        load_dataset("ferplus", root, "train")


def test_label_csv_without_the_face_box_as_the_current_generator_writes_it(ferplus_dir):
    """microsoft/FERPlus's generate_training_data.py now writes ``name,<10 votes>`` (no face box)."""
    root, _ = ferplus_dir
    before = load_dataset("ferplus", root, "train")
    label = root / "FER2013Train" / "label.csv"
    rows = [line.split(",") for line in label.read_text().splitlines()]
    label.write_text("\n".join(",".join([row[0]] + row[-10:]) for row in rows) + "\n")
    after = load_dataset("ferplus", root, "train")
    assert after.names == before.names and list(after.labels) == list(before.labels)
    np.testing.assert_array_equal(after.votes, before.votes)


def test_non_numeric_votes_and_header(ferplus_dir):
    root, _ = ferplus_dir
    label = root / "FER2013Valid" / "label.csv"
    text = label.read_text()
    label.write_text("Image name,face box," + ",".join(["v"] * 10) + "\n" + text)  # a header row is tolerated
    assert len(load_dataset("ferplus", root, "val")) == 2
    label.write_text(text + 'fer0000022.png,"(0, 0, 48, 48)",a,0,0,0,0,0,0,0,0,0\n')
    with pytest.raises(UserError, match="line 3: vote counts must be whole numbers"):
        load_dataset("ferplus", root, "val")


def test_missing_split_empty_dir_and_foreign_archive(ferplus_dir, tmp_path):
    root, _ = ferplus_dir
    with pytest.raises(UserError, match="no FER2013Test/label.csv: the test split is not in this copy"):
        load_dataset("ferplus", root, "test")
    empty = tmp_path / "empty"
    empty.mkdir()
    with pytest.raises(UserError, match="holds no FERPlus data"):
        load_dataset("ferplus", empty, "train")
    with pytest.raises(UserError, match="no such file or directory"):
        load_dataset("ferplus", tmp_path / "absent", "train")
    junk = tmp_path / "junk.tar.gz"
    junk.write_bytes(b"\x1f\x8b not really gzip")
    with pytest.raises(UserError, match="junk.tar.gz"):
        load_dataset("ferplus", junk, "train")
    other = tmp_path / "other"
    (other / "photos").mkdir(parents=True)
    (other / "photos" / "a.txt").write_text("hello")
    with pytest.raises(UserError, match="holds no FERPlus data"):
        load_dataset("ferplus", make_tar(other, tmp_path / "other.tar.gz"), "train")
    with pytest.raises(UserError, match="needs --data"):
        load_dataset("ferplus", None, "train")


def test_fer2013new_csv_with_fer2013_csv(tmp_path):
    folder = tmp_path / "fer"
    usages = ["Training", "Training", "Training", "PublicTest", "PrivateTest"]
    images = write_fer2013_csv(folder / "fer2013.csv", [(0, usage) for usage in usages])
    header = "Usage,Image name,neutral,happiness,surprise,sadness,anger,disgust,fear,contempt,unknown,NF"
    rows = [
        "Training,fer0000000.png,0,0,10,0,0,0,0,0,0,0",
        "Training,,0,0,0,0,0,0,0,0,0,10",  # removed by FERPlus: no image name
        "Training,fer0000002.png,2,0,0,6,0,0,0,0,2,0",
        "PublicTest,fer0000003.png,0,0,0,0,0,0,9,0,1,0",
        "PrivateTest,fer0000004.png,5,5,0,0,0,0,0,0,0,0",  # tie → dropped
    ]
    (folder / "fer2013new.csv").write_text(header + "\n" + "\n".join(rows) + "\n")
    train = load_dataset("ferplus", folder, "train")
    assert train.names == ["fer0000000.png", "fer0000002.png"] and train.labels.tolist() == [2, 3]
    import cv2
    np.testing.assert_array_equal(train.images[1], cv2.resize(images[2], (64, 64), interpolation=cv2.INTER_LINEAR))
    assert load_dataset("ferplus", folder / "fer2013new.csv", "val").labels.tolist() == [6]
    with pytest.raises(UserError, match="none of the 1 PrivateTest images has a majority label"):
        load_dataset("ferplus", folder, "test")
    (folder / "fer2013.csv").unlink()
    with pytest.raises(UserError, match="needs the original fer2013.csv"):
        load_dataset("ferplus", folder, "train")


def test_vote_distributions_follow_the_votes_and_sum_to_one(ferplus_dir, tmp_path):
    """``train --targets votes`` trains on these: the 8 emotions' share of the counted votes (single votes
    dropped as in the majority rule), argmax = the majority label, one row per kept image in step with it."""
    from lanmsff_edge.data import ferplus

    root, _ = ferplus_dir
    train = ferplus.load(root, "train")
    assert train.votes.shape == (6, 8) and train.votes.dtype == np.float32
    np.testing.assert_allclose(train.votes.sum(axis=1), 1.0, rtol=1e-6)
    assert train.votes.argmax(axis=1).tolist() == train.labels.tolist()
    by_name = dict(zip(train.names, train.votes))
    np.testing.assert_allclose(by_name["fer0000001.png"], [0, 1, 0, 0, 0, 0, 0, 0])  # the four 1s dropped
    np.testing.assert_allclose(by_name["fer0000007.png"], [0.6, 0, 0, 0.4, 0, 0, 0, 0])
    np.testing.assert_allclose(by_name["fer0000010.png"], [0, 0, 0, 0, 4 / 7, 3 / 7, 0, 0], rtol=1e-6)
    assert train.subset([5, 0]).votes.tolist() == [train.votes[5].tolist(), train.votes[0].tolist()]
    (root / "FER2013Train" / "fer0000003.png").write_bytes(b"not a png")  # skipped images leave their votes too
    assert ferplus.load(root, "train").votes.argmax(axis=1).tolist() == [0, 1, 0, 2, 4]

    folder = tmp_path / "pair"  # fer2013new.csv layout: unknown / NF votes are not emotions
    write_fer2013_csv(folder / "fer2013.csv", [(0, "Training")])
    header = "Usage,Image name,neutral,happiness,surprise,sadness,anger,disgust,fear,contempt,unknown,NF"
    (folder / "fer2013new.csv").write_text(header + "\nTraining,fer0000000.png,2,0,0,6,0,0,0,0,2,0\n")
    np.testing.assert_allclose(ferplus.load(folder, "train").votes, [[0.25, 0, 0, 0.75, 0, 0, 0, 0]])
