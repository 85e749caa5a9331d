"""KDEF: file-name parsing, subject-disjoint deterministic folds, poses, grayscale square crop, bad input."""
import cv2
import numpy as np
import pytest

from lanmsff_edge.data import load_dataset
from lanmsff_edge.data.kdef import parse_name, subject_folds
from lanmsff_edge.data.testing import encode, make_tar, write_kdef
from lanmsff_edge.errors import UserError


@pytest.fixture(autouse=True)
def private_cache(tmp_path, monkeypatch):
    monkeypatch.setenv("LANMSFF_CACHE", str(tmp_path / "cache"))


@pytest.mark.parametrize("name, expected", [
    ("AF01AFFL.JPG", dict(session="A", gender="F", number=1, subject="F01", label=2, pose="-90")),
    ("BM35SUS.JPG", dict(session="B", gender="M", number=35, subject="M35", label=5, pose="0")),
    ("KDEF/AM12/AM12HAHR.JPG", dict(session="A", gender="M", number=12, subject="M12", label=3, pose="+45")),
    ("bf07nehl.jpg", dict(session="B", gender="F", number=7, subject="F07", label=6, pose="-45")),
    ("AF20ANFR.JPG", dict(session="A", gender="F", number=20, subject="F20", label=0, pose="+90")),
    ("AM02DIS.JPG", dict(session="A", gender="M", number=2, subject="M02", label=1, pose="0")),
    ("BF11SAHL.JPG", dict(session="B", gender="F", number=11, subject="F11", label=4, pose="-45")),
])
def test_parse_name(name, expected):
    assert parse_name(name) == expected


@pytest.mark.parametrize("name", ["CF01AFFL.JPG", "AF01XXFL.JPG", "AF01AFS2.JPG", "AF1AFFL.JPG", "AF01AFFL.txt",
                                  "AF01AF.JPG", "AF01AFSS.JPG"])
def test_not_kdef_names(name):
    assert parse_name(name) is None


def test_folds_are_subject_disjoint_deterministic_and_balanced():
    subjects = [f"{g}{n:02d}" for g in "FM" for n in range(1, 36)]
    folds = subject_folds(subjects)
    assert folds == subject_folds(list(reversed(subjects)))  # order-independent, no seed
    assert set(folds) == set(subjects) and set(folds.values()) == {1, 2, 3, 4, 5}
    for fold in range(1, 6):
        members = [s for s, f in folds.items() if f == fold]
        assert sum(s[0] == "F" for s in members) == 7 and sum(s[0] == "M" for s in members) == 7


@pytest.fixture(scope="module")
def kdef_dir(tmp_path_factory):
    root = tmp_path_factory.mktemp("kdef")
    write_kdef(root, subjects=("F01", "F02", "F03", "M01", "M02", "M03"), expressions=("AF", "HA", "NE"),
               angles=("FL", "S", "HR"))
    return root


def test_folds_split_subjects_and_keep_poses(kdef_dir):
    seen_test = set()
    for fold in range(1, 6):
        train = load_dataset("kdef", kdef_dir, "train", fold=fold)
        val = load_dataset("kdef", kdef_dir, "val", fold=fold)
        test = load_dataset("kdef", kdef_dir, "test", fold=fold)
        assert val.names == test.names and val.split == "val" and test.split == "test"
        train_subjects = {parse_name(n)["subject"] for n in train.names}
        test_subjects = {parse_name(n)["subject"] for n in test.names}
        assert not train_subjects & test_subjects
        assert len(train) + len(test) == 2 * 6 * 3 * 3
        # both sessions of a subject travel together
        assert {parse_name(n)["session"] for n in test.names} == {"A", "B"}
        seen_test |= test_subjects
        assert [parse_name(n)["pose"] for n in test.names] == list(test.poses)
        assert set(test.poses) == {"-90", "0", "+45"}
        assert set(test.labels.tolist()) == {2, 3, 6}
    assert seen_test == {"F01", "F02", "F03", "M01", "M02", "M03"}  # every subject is tested once
    again = load_dataset("kdef", kdef_dir, "train", fold=2)
    assert again.names == load_dataset("kdef", kdef_dir, "train", fold=2).names


def test_colour_portrait_becomes_gray_centre_square(tmp_path):
    portrait = np.zeros((90, 60, 3), np.uint8)  # height 90, width 60: the centred square is rows 15..75
    portrait[:15] = (0, 0, 255)
    portrait[75:] = (0, 0, 255)
    portrait[15:75] = (200, 200, 200)
    path = tmp_path / "KDEF" / "AF01" / "AF01NES.JPG"
    path.parent.mkdir(parents=True)
    path.write_bytes(encode(portrait, ".png"))  # lossless bytes under a KDEF name: decoded by content
    images = load_dataset("kdef", tmp_path, "val", fold=1)
    assert images.images.shape == (1, 64, 64)
    assert np.all(np.abs(images.images[0].astype(int) - 200) <= 1)  # only the gray square is left
    assert cv2.cvtColor(portrait, cv2.COLOR_BGR2GRAY)[0, 0] < 100  # the red bands, had they stayed, are dark


def test_bad_kdef_input(kdef_dir, tmp_path):
    with pytest.raises(UserError, match="kdef needs --fold 1..5"):
        load_dataset("kdef", kdef_dir, "train")
    with pytest.raises(UserError, match="--fold must be 1..5, got 6"):
        load_dataset("kdef", kdef_dir, "train", fold=6)
    with pytest.raises(UserError, match="--fold applies to kdef"):
        load_dataset("fer2013", kdef_dir, "train", fold=1)
    empty = tmp_path / "empty"
    empty.mkdir()
    with pytest.raises(UserError, match="holds no KDEF images"):
        load_dataset("kdef", empty, "train", fold=1)
    few = tmp_path / "few"
    write_kdef(few, subjects=("F01", "M01"), expressions=("HA",), angles=("S",))
    with pytest.raises(UserError, match="fold 3 has no val images: 2 subject"):
        load_dataset("kdef", few, "val", fold=3)


def test_odd_files_are_skipped_and_counted(tmp_path):
    write_kdef(tmp_path, subjects=("F01", "M01"), sessions=("A",), expressions=("HA", "SA"), angles=("S",))
    (tmp_path / "KDEF" / "AF01" / "AF01ANS.JPG").write_bytes(b"broken")
    (tmp_path / "KDEF" / "AF01" / "notes.JPG").write_bytes(b"whatever")
    everything = load_dataset("kdef", make_tar(tmp_path / "KDEF", tmp_path / "kdef.tar.gz"), "train", fold=2)
    assert everything.skipped == 2
    assert sorted(everything.skipped_names) == ["KDEF/AF01/AF01ANS.JPG", "KDEF/AF01/notes.JPG (not a KDEF file name)"]
