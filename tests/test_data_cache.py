"""The decode cache: written once, reused, invalidated by a changed source, robust to a corrupt entry."""
import os

import numpy as np
import pytest

from lanmsff_edge.data import cache, ferplus, load_dataset
from lanmsff_edge.data.testing import make_tar, write_ferplus, write_kdef


@pytest.fixture
def cache_dir(tmp_path, monkeypatch):
    monkeypatch.setenv("LANMSFF_CACHE", str(tmp_path / "cache"))
    return tmp_path / "cache"


@pytest.fixture
def archive(tmp_path):
    rows = [(f"fer{i:07d}.png", [0] * (i % 8) + [10] + [0] * (9 - i % 8)) for i in range(12)]
    write_ferplus(tmp_path / "ferplus", {"train": rows, "val": rows[:3]})
    return make_tar(tmp_path / "ferplus", tmp_path / "ferplus.tar.gz")


def _fail(*args, **kwargs):
    raise AssertionError("decoded again although a cache entry exists")


def test_second_load_comes_from_the_cache(cache_dir, archive, monkeypatch):
    first = load_dataset("ferplus", archive, "train")
    entries = list(cache_dir.glob("ferplus-train-*.npz"))
    assert len(entries) == 1
    monkeypatch.setattr(ferplus, "load", _fail)
    second = load_dataset("ferplus", archive, "train")
    np.testing.assert_array_equal(second.images, first.images)
    assert second.labels.tolist() == first.labels.tolist() and second.names == first.names
    assert second.class_names == first.class_names and second.poses is None and second.skipped == 0
    assert len(load_dataset("ferplus", archive, "train", limit=5)) == 5  # a limit slices the cached split


def test_changed_source_is_decoded_again_and_old_entry_removed(cache_dir, archive, tmp_path):
    load_dataset("ferplus", archive, "train")
    old = next(cache_dir.glob("ferplus-train-*.npz"))
    rows = [(f"fer{i:07d}.png", [10] + [0] * 9) for i in range(5)]
    write_ferplus(tmp_path / "new" / "ferplus", {"train": rows})
    make_tar(tmp_path / "new" / "ferplus", archive)  # same path, new content
    os.utime(archive, ns=(old.stat().st_mtime_ns + 10**9, old.stat().st_mtime_ns + 10**9))
    reloaded = load_dataset("ferplus", archive, "train")
    assert len(reloaded) == 5
    assert not old.exists() and len(list(cache_dir.glob("ferplus-train-*.npz"))) == 1


def test_directory_change_invalidates(cache_dir, tmp_path):
    rows = [(f"fer{i:07d}.png", [10] + [0] * 9) for i in range(4)]
    write_ferplus(tmp_path / "d", {"train": rows})
    assert len(load_dataset("ferplus", tmp_path / "d", "train")) == 4
    label = tmp_path / "d" / "FER2013Train" / "label.csv"
    label.write_text(label.read_text().replace(",10,0,0,0,0,0,0,0,0,0", ",0,0,0,0,0,0,0,0,0,10", 1))
    os.utime(label, ns=(label.stat().st_mtime_ns + 10**9,) * 2)
    assert len(load_dataset("ferplus", tmp_path / "d", "train")) == 3  # relabelled as not-a-face


def test_corrupt_entry_is_ignored_and_rebuilt(cache_dir, archive):
    first = load_dataset("ferplus", archive, "val")
    entry = next(cache_dir.glob("ferplus-val-*.npz"))
    entry.write_bytes(b"garbage")
    again = load_dataset("ferplus", archive, "val")
    np.testing.assert_array_equal(again.images, first.images)
    assert cache.load(entry) is not None  # rewritten


def test_limited_first_load_writes_no_cache(cache_dir, archive):
    assert len(load_dataset("ferplus", archive, "train", limit=3)) == 3
    assert not list(cache_dir.glob("*.npz"))


def test_kdef_poses_survive_the_cache(cache_dir, tmp_path):
    write_kdef(tmp_path, subjects=("F01", "M01", "F02", "M02", "F03"), sessions=("A",), expressions=("HA",),
               angles=("FL", "S"))
    first = load_dataset("kdef", tmp_path, "train", fold=1)
    second = load_dataset("kdef", tmp_path, "train", fold=1)
    assert list(first.poses) == list(second.poses) and set(first.poses) == {"-90", "0"}
    assert len(list(cache_dir.glob("kdef-all-*.npz"))) == 1
