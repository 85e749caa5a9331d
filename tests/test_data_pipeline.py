"""make_tf_dataset, the paper's augmentation and to_model_input."""
import numpy as np
import pytest

from lanmsff_edge.data import LabeledImages, load_dataset, make_tf_dataset, paper_augment, to_model_input
from lanmsff_edge.errors import UserError


@pytest.fixture(scope="module")
def faces():
    return load_dataset("synthetic", split="val", size=50, seed=2)


def _collect(dataset):
    xs, ys = zip(*[(x.numpy(), y.numpy()) for x, y in dataset])
    return np.concatenate(xs), np.concatenate(ys)


def test_to_model_input_range_and_shape():
    images = np.stack([np.full((64, 64), 7, np.uint8), np.arange(4096).reshape(64, 64).astype(np.uint8)])
    images[1, 0, 0], images[1, 0, 1] = 3, 250
    out = to_model_input(images)
    assert out.shape == (2, 64, 64, 1) and out.dtype == np.float32
    assert np.all(out[0] == 0.0)  # a flat image maps to 0, not NaN
    assert out[1].min() == 0.0 and out[1].max() == 1.0
    with pytest.raises(ValueError):
        to_model_input(np.zeros((1, 48, 48), np.uint8))


def test_plain_pipeline_equals_to_model_input(faces):
    x, y = _collect(make_tf_dataset(faces, batch_size=16))
    assert x.shape == (50, 64, 64, 1) and x.dtype == np.float32
    np.testing.assert_allclose(x, to_model_input(faces.images), atol=1e-6)
    assert y.shape == (50, 8) and np.array_equal(y.argmax(1), faces.labels) and np.all(y.sum(1) == 1)


def test_batches_shuffle_and_drop_remainder(faces):
    batches = [x.shape[0] for x, _ in make_tf_dataset(faces, batch_size=16, drop_remainder=True)]
    assert batches == [16, 16, 16]
    x, y = _collect(make_tf_dataset(faces, batch_size=16, shuffle=True, seed=1))
    order = y.argmax(1)
    assert sorted(order.tolist()) == sorted(faces.labels.tolist())
    assert not np.array_equal(order, faces.labels)  # 50 labels left in place by a shuffle: ~never


def test_online_augmentation_is_deterministic_per_seed_and_varies_by_epoch(faces):
    dataset = make_tf_dataset(faces, batch_size=25, augment="online", shuffle=True, seed=5)
    epoch1, labels1 = _collect(dataset)
    epoch2, _ = _collect(dataset)
    rerun, rerun_labels = _collect(make_tf_dataset(faces, batch_size=25, augment="online", shuffle=True, seed=5))
    other, _ = _collect(make_tf_dataset(faces, batch_size=25, augment="online", shuffle=True, seed=6))
    assert np.array_equal(epoch1, rerun) and np.array_equal(labels1, rerun_labels)
    assert not np.array_equal(epoch1, epoch2)
    assert not np.array_equal(epoch1, other)
    assert epoch1.shape == (50, 64, 64, 1)
    # min-max comes after the augmentation: every image spans [0, 1] exactly
    assert np.allclose(epoch1.min(axis=(1, 2, 3)), 0.0) and np.allclose(epoch1.max(axis=(1, 2, 3)), 1.0)


def test_online_augmentation_changes_images_but_keeps_them_faces(faces):
    plain, _ = _collect(make_tf_dataset(faces, batch_size=50))
    augmented, _ = _collect(make_tf_dataset(faces, batch_size=50, augment="online", seed=1))
    difference = np.abs(plain - augmented).mean(axis=(1, 2, 3))
    assert np.all(difference > 0.005)  # every image moved
    # a ±15° rotation and a crop from 72 keep each image close to its source or to the source's mirror image
    def similarity(source, image):
        return max(np.corrcoef(candidate.ravel(), image.ravel())[0, 1] for candidate in (source, source[:, ::-1]))

    scores = [similarity(source, image) for source, image in zip(plain, augmented)]
    others = [similarity(plain[(i + 1) % len(plain)], image) for i, image in enumerate(augmented)]
    assert np.median(scores) > 0.4 and np.median(scores) > np.median(others) + 0.2


def test_crop_matches_resize_to_72_then_crop():
    """With no rotation and no flip the composed transform is exactly resize(72) + crop at the offset."""
    from lanmsff_edge.data.augment import _compose, apply_transforms
    from lanmsff_edge.keras import tf

    rng = np.random.default_rng(0)
    images = tf.constant(rng.uniform(0, 255, (3, 64, 64, 1)), tf.float32)
    for ox, oy in [(0, 0), (8, 3), (5, 8)]:
        transform = _compose(tf.fill([3], float(ox)), tf.fill([3], float(oy)), tf.zeros(3), tf.zeros(3))
        reference = tf.image.resize(images, (72, 72), "bilinear")[:, oy:oy + 64, ox:ox + 64]
        np.testing.assert_allclose(apply_transforms(images, transform), reference, atol=0.01)
    mirror = _compose(tf.fill([3], 4.0), tf.fill([3], 4.0), tf.zeros(3), tf.ones(3))
    centre = _compose(tf.fill([3], 4.0), tf.fill([3], 4.0), tf.zeros(3), tf.zeros(3))
    np.testing.assert_allclose(apply_transforms(images, mirror), apply_transforms(images, centre)[:, :, ::-1],
                               atol=0.01)


def test_rotation_turns_about_the_centre():
    from lanmsff_edge.data.augment import _compose, apply_transforms
    from lanmsff_edge.keras import tf

    image = np.zeros((1, 64, 64, 1), np.float32)
    image[0, 28:36, 28:36] = 1.0  # a centred square survives any rotation about the centre, roughly in place
    image[0, 2:6, 30:34] = 1.0  # a dot near the top moves sideways when rotated
    quarter = _compose(tf.constant([4.0]), tf.constant([4.0]), tf.constant([np.pi / 2]), tf.constant([0.0]))
    out = apply_transforms(tf.constant(image), quarter).numpy()[0, :, :, 0]
    assert out[30:34, 30:34].min() > 0.9
    assert out[2:6, 30:34].max() < 0.1  # the top dot left the top...
    side = max(out[28:36, 0:10].max(), out[28:36, 54:64].max())
    assert side > 0.5  # ...to the left or right edge


def test_paper_augment_expands_four_times_deterministically(faces):
    expanded = paper_augment(faces, seed=1)
    again = paper_augment(faces, seed=1)
    other = paper_augment(faces, seed=2)
    assert len(expanded) == 4 * len(faces) and expanded.images.dtype == np.uint8
    assert np.array_equal(expanded.images[:50], faces.images)  # originals first
    assert np.array_equal(expanded.labels, np.tile(faces.labels, 4))
    assert list(expanded.poses) == list(faces.poses) * 4
    assert expanded.names[50] == faces.names[0] + "#aug1"
    assert np.array_equal(expanded.images, again.images) and not np.array_equal(expanded.images, other.images)
    for copy in range(1, 4):
        part = expanded.images[copy * 50:(copy + 1) * 50]
        assert not np.array_equal(part, faces.images)
        # resampling, not rescaling: values stay inside each source image's range
        assert np.all(part.min(axis=(1, 2)) >= faces.images.min(axis=(1, 2)))
        assert np.all(part.max(axis=(1, 2)) <= faces.images.max(axis=(1, 2)))


@pytest.mark.parametrize("kwargs, message", [
    (dict(augment="paper"), "paper_augment"),
    (dict(augment="mixup"), "unknown augmentation 'mixup'"),
    (dict(batch_size=0), "batch size"),
])
def test_bad_pipeline_options(faces, kwargs, message):
    with pytest.raises(UserError, match=message):
        make_tf_dataset(faces, **kwargs)


def test_empty_split_is_a_user_error(faces):
    empty = faces.subset(np.zeros(len(faces), bool))
    assert isinstance(empty, LabeledImages) and len(empty) == 0
    with pytest.raises(UserError, match="no images"):
        make_tf_dataset(empty)
