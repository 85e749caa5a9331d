"""calibration/: balanced deterministic samples, the .npz cache, the converter generator, activation ranges."""
import warnings

import numpy as np
import pytest

from lanmsff_edge.calibration import (
    CalibrationWarning,
    load_sample,
    model_inputs,
    representative_dataset,
    representative_sample,
    sample_indices,
    water_fill,
)
from lanmsff_edge.calibration import cache as calibration_cache
from lanmsff_edge.data.common import LabeledImages


def labeled(labels, poses=None, dataset="toy", split="train", num_classes=None):
    labels = np.asarray(labels, dtype=np.int64)
    count = len(labels)
    rng = np.random.default_rng(1)
    num_classes = num_classes or int(labels.max()) + 1
    return LabeledImages(dataset=dataset, split=split, class_names=tuple(f"c{i}" for i in range(num_classes)),
                         images=rng.integers(0, 256, (count, 64, 64), dtype=np.uint8), labels=labels,
                         names=[f"img{i}" for i in range(count)],
                         poses=None if poses is None else np.asarray(poses, dtype=object))


def test_water_fill_is_even_and_respects_capacity():
    assert water_fill([10, 10, 10], 9).tolist() == [3, 3, 3]
    assert water_fill([1, 10, 10], 9).tolist() == [1, 4, 4]
    assert water_fill([2, 2, 2], 100).tolist() == [2, 2, 2]
    assert water_fill([5, 5, 5], 4).tolist() == [2, 1, 1]  # leftover to the first cells, deterministically
    assert water_fill([0, 3], 2).tolist() == [0, 2]


def test_sample_is_class_balanced_even_when_the_split_is_not():
    labels = np.array([0] * 500 + [1] * 50 + [2] * 5 + [3] * 200)
    sample = representative_sample(labeled(labels), size=100, seed=0)
    counts = np.bincount(sample.labels, minlength=4).tolist()
    assert counts == [32, 32, 5, 31]  # class 2 gives all 5, the rest shared evenly
    assert len(set(sample.names)) == 100  # no image twice


def test_sample_is_deterministic_and_seed_dependent():
    images = labeled(np.arange(1000) % 8)
    first = representative_sample(images, 80, seed=3)
    again = representative_sample(images, 80, seed=3)
    other = representative_sample(images, 80, seed=4)
    assert first.names == again.names
    assert first.names != other.names
    assert np.array_equal(first.images, again.images)


def test_sample_is_pose_balanced_within_each_class():
    rng = np.random.default_rng(0)
    labels = np.arange(600) % 3
    poses = np.where(rng.random(600) < 0.8, "0", rng.choice(["-90", "+90"], 600))  # mostly frontal
    sample = representative_sample(labeled(labels, poses), size=60, seed=0)
    for label in range(3):
        in_class = sample.poses[sample.labels == label]
        counts = {pose: int(np.sum(in_class == pose)) for pose in ("-90", "0", "+90")}
        assert sum(counts.values()) == 20
        assert max(counts.values()) - min(counts.values()) <= 1


def test_fewer_images_than_asked_uses_all_with_a_warning():
    images = labeled(np.arange(30) % 3)
    with pytest.warns(CalibrationWarning, match="30 images, fewer than the 500"):
        sample = representative_sample(images, 500)
    assert sorted(sample.names) == sorted(images.names)


def test_sample_indices_without_poses_ignores_unknown_pose_entries():
    images = labeled(np.arange(40) % 4, poses=[None] * 40)
    sample = representative_sample(images, 8)
    assert np.bincount(sample.labels).tolist() == [2, 2, 2, 2]
    assert sample_indices(np.arange(40) % 4, 8).shape == (8,)


def test_representative_dataset_yields_batch_one_model_inputs():
    images = labeled(np.arange(12) % 3)
    generate = representative_dataset(images, limit=5)
    batches = list(generate())
    assert len(batches) == 5
    for (x,) in batches:
        assert x.shape == (1, 64, 64, 1) and x.dtype == np.float32
        assert x.min() == 0.0 and x.max() == 1.0  # per-image min-max, as every model input
    assert np.array_equal(batches[0][0][0], model_inputs(images)[0])
    assert len(list(generate())) == 5  # callable again: the converter iterates it more than once


def test_cache_round_trip_and_keys(tmp_path, monkeypatch):
    monkeypatch.delenv("LANMSFF_CACHE", raising=False)
    rng = np.random.default_rng(0)
    images = labeled(np.arange(90) % 3, poses=rng.choice(["-30", "0", "+30"], 90))
    sample, path = load_sample("toy", None, "train", size=12, seed=0, directory=tmp_path, images=images)
    assert path.exists() and path.suffix == ".npz" and path.parent == tmp_path
    # the second call must come from the file: loading the split again would fail
    monkeypatch.setattr(calibration_cache, "representative_sample", None)
    cached, same_path = load_sample("toy", None, "train", size=12, seed=0, directory=tmp_path)
    assert same_path == path
    assert cached.names == sample.names and np.array_equal(cached.images, sample.images)
    assert cached.labels.tolist() == sample.labels.tolist() and cached.poses.tolist() == sample.poses.tolist()
    assert cached.class_names == sample.class_names
    monkeypatch.undo()
    other, other_path = load_sample("toy", None, "train", size=12, seed=1, directory=tmp_path, images=images)
    assert other_path != path
    assert load_sample("toy", None, "train", size=10, seed=0, directory=tmp_path, images=images)[1] != path


def test_cache_follows_lanmsff_cache_and_warns_again_when_short(tmp_path, monkeypatch):
    monkeypatch.setenv("LANMSFF_CACHE", str(tmp_path / "cache"))
    images = labeled(np.arange(9) % 3)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        _, path = load_sample("toy", None, "train", size=50, directory=tmp_path / "ignored", images=images)
        load_sample("toy", None, "train", size=50, directory=tmp_path / "ignored")
    assert path.parent == tmp_path / "cache" / "calibration"
    assert [w.category for w in caught] == [CalibrationWarning, CalibrationWarning]
    assert not (tmp_path / "ignored").exists()


def test_corrupt_cache_file_is_rebuilt(tmp_path, monkeypatch):
    monkeypatch.delenv("LANMSFF_CACHE", raising=False)
    images = labeled(np.arange(30) % 3)
    _, path = load_sample("toy", None, "train", size=6, directory=tmp_path, images=images)
    path.write_bytes(b"not an npz")
    sample, again = load_sample("toy", None, "train", size=6, directory=tmp_path, images=images)
    assert again == path and len(sample) == 6
    assert np.load(path)["images"].shape == (6, 64, 64)


def test_calibration_samples_are_entries_of_the_one_image_cache(tmp_path, monkeypatch):
    """Same layout and fingerprint as the decoded splits: data/cache reads the sample back, a rewritten data file
    makes a new entry and removes the stale one."""
    import os

    from lanmsff_edge.data import cache

    monkeypatch.delenv("LANMSFF_CACHE", raising=False)
    source = tmp_path / "toy.csv"
    source.write_text("stand-in for a data file")
    images = labeled(np.arange(30) % 3, poses=["0"] * 29 + [None])
    sample, path = load_sample("toy", source, "train", size=30, directory=tmp_path / "c", images=images)
    stored = cache.load(path)
    assert stored.names == sample.names and np.array_equal(stored.images, sample.images)
    assert stored.poses.tolist() == sample.poses.tolist() and None in stored.poses.tolist()
    assert path.name.startswith("toy-train-n30-seed0-")
    os.utime(source, ns=(source.stat().st_mtime_ns + 10**9,) * 2)  # the data file changed
    _, newer = load_sample("toy", source, "train", size=30, directory=tmp_path / "c", images=images)
    assert newer != path and newer.exists() and not path.exists()


def test_activation_ranges_match_numpy():
    from lanmsff_edge.calibration import activation_ranges
    from lanmsff_edge.keras import keras

    keras.utils.set_random_seed(0)
    inputs = keras.Input((64, 64, 1), name="image")
    conv = keras.layers.Conv2D(3, 3, padding="same", name="conv")(inputs)
    outputs = keras.layers.ReLU(name="relu")(conv)
    model = keras.Model(inputs, outputs)
    x = model_inputs(labeled(np.arange(20) % 2))
    ranges = activation_ranges(model, x, batch_size=7, values_per_batch=50_000)
    expected = keras.Model(inputs, conv)(x).numpy()
    assert set(ranges) == {"input", "conv", "relu"}
    assert ranges["conv"]["min"] == pytest.approx(expected.min(), rel=1e-6)
    assert ranges["conv"]["max"] == pytest.approx(expected.max(), rel=1e-6)
    assert ranges["conv"]["mean"] == pytest.approx(expected.mean(), rel=1e-4, abs=1e-6)
    assert ranges["conv"]["std"] == pytest.approx(expected.std(), rel=1e-4)
    assert ranges["relu"]["min"] == 0.0
    assert ranges["conv"]["shape"] == [64, 64, 3]
    median = ranges["conv"]["percentiles"]["p50"]
    assert abs(np.mean(expected <= median) - 0.5) < 0.02  # subsampled percentile, close to the true one
    assert ranges["input"]["min"] == 0.0 and ranges["input"]["max"] == 1.0
    assert ranges["relu"]["int8_step"] == pytest.approx(expected.max() / 255.0, rel=1e-6)
