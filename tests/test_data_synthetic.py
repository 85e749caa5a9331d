"""The synthetic data set: deterministic per (seed, split), balanced, distinct splits, expression cues present."""
import numpy as np
import pytest

from lanmsff_edge.data import CLASS_NAMES, load_dataset
from lanmsff_edge.data.synthetic import DEFAULT_SIZES, POSES
from lanmsff_edge.errors import UserError


def test_same_seed_same_images_other_seed_other_images():
    first = load_dataset("synthetic", split="val", size=40, seed=3)
    again = load_dataset("synthetic", split="val", size=40, seed=3)
    other = load_dataset("synthetic", split="val", size=40, seed=4)
    assert np.array_equal(first.images, again.images)
    assert np.array_equal(first.labels, again.labels)
    assert list(first.poses) == list(again.poses)
    assert not np.array_equal(first.images, other.images)


def test_splits_share_no_image():
    train = load_dataset("synthetic", split="train", size=64)
    val = load_dataset("synthetic", split="val", size=64)
    test = load_dataset("synthetic", split="test", size=64)
    digests = [{image.tobytes() for image in split.images} for split in (train, val, test)]
    assert not digests[0] & digests[1] and not digests[0] & digests[2] and not digests[1] & digests[2]


def test_contract_shapes_balance_and_poses():
    images = load_dataset("synthetic", split="train", size=83)
    assert images.images.shape == (83, 64, 64) and images.images.dtype == np.uint8
    assert images.class_names == CLASS_NAMES["synthetic"] == CLASS_NAMES["ferplus"]
    counts = images.class_counts()
    assert counts.max() - counts.min() <= 1 and counts.sum() == 83
    assert set(images.poses) <= set(POSES) and len(set(images.poses)) == 3
    assert len(images.names) == 83 and len(set(images.names)) == 83
    assert images.images.std() > 20  # not blank


def test_default_sizes_and_limit():
    assert DEFAULT_SIZES == {"train": 2400, "val": 480, "test": 480}
    assert len(load_dataset("synthetic", split="test", limit=10)) == 10


def test_each_expression_moves_the_face_parts():
    """Same identity, pose and seed: each expression changes the neutral face, upper (eyes, brows) and/or lower
    half (mouth) as designed, and no two expressions draw the same face."""
    from lanmsff_edge.data.synthetic import _draw_face

    faces = {name: _draw_face(np.random.default_rng(11), name, 0.0) for name in CLASS_NAMES["synthetic"]}
    neutral = faces["neutral"]
    for name, face in faces.items():
        if name == "neutral":
            continue
        change = np.abs(face - neutral)
        upper, lower = change[:34].sum(), change[34:].sum()
        assert upper + lower > 2000, name
        if name in ("happiness", "sadness", "contempt", "surprise", "fear"):
            assert lower > 1000, name  # the mouth moves
        if name in ("surprise", "sadness", "anger", "fear", "disgust"):
            assert upper > 500, name  # brows / eyes move
    names = list(faces)
    for i, a in enumerate(names):
        for b in names[i + 1:]:
            assert np.abs(faces[a] - faces[b]).sum() > 1000, (a, b)


@pytest.mark.parametrize("kwargs, message", [
    (dict(size=0), "size"),
    (dict(pose_lists=["x.txt"]), "pose lists"),
    (dict(limit=0), "limit"),
])
def test_bad_arguments(kwargs, message):
    with pytest.raises(UserError, match=message):
        load_dataset("synthetic", **kwargs)


def test_unknown_dataset_and_split():
    with pytest.raises(UserError, match="unknown data set 'cifar'"):
        load_dataset("cifar")
    with pytest.raises(UserError, match="unknown split 'dev'"):
        load_dataset("synthetic", split="dev")
