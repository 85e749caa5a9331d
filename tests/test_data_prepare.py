"""`data prepare`: folders laid out as the public downloads are (made here, small) → the layouts the loaders take."""
import csv
import io
import tarfile

import numpy as np
import pytest

from lanmsff_edge.data import load_dataset
from lanmsff_edge.data.classes import FERPLUS_CLASSES
from lanmsff_edge.data.prepare import PUBLIC_ROWS, prepare
from lanmsff_edge.errors import UserError

USAGES = ["Training"] * 12 + ["PublicTest"] * 4 + ["PrivateTest"] * 4
DROPPED = {3, 13}  # rows FERPlus gave no image name (the faces it dropped)


def _faces():
    rng = np.random.default_rng(0)
    return rng.integers(0, 256, size=(len(USAGES), 48, 48), dtype=np.uint8)


def _votes(row):
    votes = [0] * 10
    votes[row % 8] = 8  # a clear majority for class row % 8
    votes[(row + 1) % 8] = 2
    if row == 5:
        votes = [3, 3, 2, 2, 0, 0, 0, 0, 0, 0]  # no majority: kept as an image, dropped by the loader
    return votes


def _fer2013_csv(faces, usages=USAGES):
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(["emotion", "pixels", "Usage"])
    for row, (face, usage) in enumerate(zip(faces, usages)):
        writer.writerow([row % 7, " ".join(map(str, face.ravel())), usage])
    return out.getvalue().encode()


def _fer2013new_csv(usages=USAGES):
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(["Usage", "Image name", "neutral", "happiness", "surprise", "sadness", "anger", "disgust",
                     "fear", "contempt", "unknown", "NF"])
    for row, usage in enumerate(usages):
        writer.writerow([usage, "" if row in DROPPED else f"fer{row:07d}.png", *_votes(row)])
    return out.getvalue().encode()


def _downloads(tmp_path, faces, usages=USAGES, label_usages=USAGES):
    """Kaggle's fer2013.tar.gz (fer2013/fer2013.csv, README, fer2013.bib) beside a FERPlus checkout's folder."""
    folder = tmp_path / "downloads"
    (folder / "FERPlus-master" / "data").mkdir(parents=True)
    (folder / "FERPlus-master" / "fer2013new.csv").write_bytes(_fer2013new_csv(label_usages))
    with tarfile.open(folder / "fer2013.tar.gz", "w:gz") as tar:
        for name, data in (("fer2013/fer2013.csv", _fer2013_csv(faces, usages)), ("fer2013/README", b"readme"),
                           ("fer2013/fer2013.bib", b"@misc{}")):
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
    return folder


def test_ferplus_from_the_two_public_files_is_microsofts_layout(tmp_path, run_cli):
    faces = _faces()
    downloads = _downloads(tmp_path, faces)
    out = tmp_path / "ferplus.tar.gz"
    result = run_cli("data", "prepare", "ferplus", "--from", downloads, "--out", out)
    assert result.exit_code == 0, result.output
    assert "FER2013Train: 12 rows, 11 images, 10 majority" in result.stdout  # row 3 unnamed, row 5 no majority
    assert "FER2013Valid: 4 rows, 3 images, 3 majority" in result.stdout
    assert "warning: fer2013/fer2013.csv has 12 Training, 4 PublicTest, 4 PrivateTest rows; the public release " \
           "has 28,709 Training" in result.stderr
    with tarfile.open(out) as tar:
        names = set(tar.getnames())
        label = tar.extractfile("ferplus/FER2013Train/label.csv").read().decode().splitlines()
    assert {"ferplus/FER2013Train/label.csv", "ferplus/FER2013Valid/fer0000012.png",
            "ferplus/FER2013Test/fer0000019.png"} <= names and "ferplus/FER2013Train/fer0000003.png" not in names
    assert label[0] == 'fer0000000.png,"(0, 0, 48, 48)",8,2,0,0,0,0,0,0,0,0'
    # the loader reads it: the PNGs hold the csv's pixels, losslessly, under FERPlus's names and majority labels
    from lanmsff_edge.data.decode import prepare_face

    for split, rows in (("train", [r for r in range(12) if r not in DROPPED | {5}]), ("val", [12, 14, 15])):
        packed = load_dataset("ferplus", out, split=split)
        assert packed.names == [f"fer{r:07d}.png" for r in rows]
        np.testing.assert_array_equal(packed.images, np.stack([prepare_face(faces[r]) for r in rows]))
        assert list(packed.labels) == [r % 8 for r in rows]
        assert list(packed.class_names) == list(FERPLUS_CLASSES)
    again = run_cli("data", "prepare", "ferplus", "--from", downloads, "--out", out)
    assert again.exit_code == 1 and "already exists" in again.output  # nothing overwritten


def test_a_fer2013_csv_that_is_not_the_labels_one_is_refused_and_nothing_is_left(tmp_path):
    faces = _faces()
    swapped = list(USAGES)
    swapped[12], swapped[16] = "PrivateTest", "PublicTest"
    downloads = _downloads(tmp_path, faces, usages=swapped)
    with pytest.raises(UserError, match="fer2013.csv line 14 is PrivateTest but FERPlus-master/fer2013new.csv line 14 "
                                        "is PublicTest"):
        prepare("ferplus", downloads, tmp_path / "ferplus")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["downloads"]  # no output, no staging folder left
    short = _downloads(tmp_path / "short", faces[:15], usages=USAGES[:15])
    with pytest.raises(UserError, match="has 15 rows but FERPlus-master/fer2013new.csv has 20"):
        prepare("ferplus", short, tmp_path / "short" / "ferplus.tar.gz")
    with pytest.raises(UserError, match="no fer2013new.csv in it"):
        prepare("ferplus", tmp_path / "short" / "downloads" / "fer2013.tar.gz", tmp_path / "x")


def test_fer2013_from_kaggles_download_is_checked_and_packed(tmp_path, run_cli):
    faces = _faces()
    downloads = _downloads(tmp_path, faces)
    out = tmp_path / "fer2013_csv.tar.gz"
    result = run_cli("data", "prepare", "fer2013", "--from", downloads / "fer2013.tar.gz", "--out", out)
    assert result.exit_code == 0, result.output
    assert "Training: 12 rows" in result.stdout and "PrivateTest: 4 rows" in result.stdout
    val = load_dataset("fer2013", out, split="val")
    assert len(val) == 4 and list(val.labels) == [r % 7 for r in range(12, 16)]
    broken = tmp_path / "broken"
    broken.mkdir()
    (broken / "fer2013.csv").write_bytes(_fer2013_csv(faces).replace(b",Training", b",Trainin", 1))
    result = run_cli("data", "prepare", "fer2013", "--from", broken, "--out", tmp_path / "f")
    assert result.exit_code == 1 and "line 2: Usage 'Trainin' is not Training" in result.output
    assert run_cli("data", "prepare", "fer2013", "--from", tmp_path / "absent").exit_code == 2


def test_the_public_counts_are_those_of_kaggles_file():
    assert sum(PUBLIC_ROWS.values()) == 35_887 and PUBLIC_ROWS["Training"] == 28_709
