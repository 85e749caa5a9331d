"""``make_tf_dataset``: LabeledImages → a tf.data pipeline of model-ready batches.

The uint8 images stay in memory once (a constant tensor); the pipeline shuffles and batches *indices*, gathers
each batch, applies the online augmentation, then the per-image min-max of ``to_model_input`` — after the
augmentation, so every training image spans [0, 1] exactly as in the paper's offline recipe. Memory stays bounded
by one uint8 copy of the split plus a few float batches.

Determinism: shuffling and augmentation are seeded; a given seed yields the same sequence of batches on every
run, with a different order and different augmentations in each epoch.
"""
from lanmsff_edge.data.common import LabeledImages
from lanmsff_edge.errors import UserError

AUGMENT_MODES = ("online", "paper", "none")  # --augment of train and quantize


def make_tf_dataset(images: LabeledImages, batch_size=32, augment="none", shuffle=False, seed=0,
                    drop_remainder=False, soft_targets=False):
    """(float32 B×64×64×1 in [0, 1], one-hot float32 B×C) batches; with ``soft_targets`` the targets are the
    images' vote distributions (``LabeledImages.votes``) instead of one-hot labels.

    augment: "none" or "online" (random crop-from-72, ±15° rotation, flip per image, per epoch). The offline
    "paper" expansion is ``paper_augment(images)`` before this call, then ``augment="none"``.
    """
    from lanmsff_edge.keras import tf

    if augment == "paper":
        raise UserError("augment='paper' is the offline ×4 expansion: call paper_augment(images) first, "
                        "then make_tf_dataset(..., augment='none')")
    if augment not in ("none", "online"):
        raise UserError(f"unknown augmentation {augment!r}: choose one of {', '.join(AUGMENT_MODES)}")
    if len(images) == 0:
        raise UserError(f"{images.dataset} {images.split}: no images to make a dataset from")
    if int(batch_size) < 1:
        raise UserError(f"batch size must be at least 1, got {batch_size}")

    pixels = tf.constant(images.images)
    if soft_targets:
        if images.votes is None:
            raise UserError(f"{images.dataset} {images.split}: no vote distributions to train on (--targets votes "
                            f"needs FERPlus)")
        targets = tf.constant(images.votes, dtype=tf.float32)
    else:
        targets = tf.one_hot(tf.constant(images.labels), depth=images.num_classes, dtype=tf.float32)
    count = len(images)

    def gather(index):
        batch = tf.cast(tf.gather(pixels, index), tf.float32)[..., None]
        return batch, tf.gather(targets, index)

    indices = tf.data.Dataset.range(count)
    if shuffle:
        indices = indices.shuffle(count, seed=seed, reshuffle_each_iteration=True)
    batches = indices.batch(int(batch_size), drop_remainder=drop_remainder)

    if augment == "online":
        from lanmsff_edge.data.augment import augment_batch

        randoms = tf.data.Dataset.random(seed=seed, rerandomize_each_iteration=True)

        def load(index, random):
            batch, target = gather(index)
            stateless_seed = tf.stack([tf.constant(int(seed), tf.int64), random])
            return normalize_batch(augment_batch(batch, stateless_seed)), target

        dataset = tf.data.Dataset.zip((batches, randoms)).map(load, num_parallel_calls=tf.data.AUTOTUNE,
                                                                deterministic=True)
    else:
        def load(index):
            batch, target = gather(index)
            return normalize_batch(batch), target

        dataset = batches.map(load, num_parallel_calls=tf.data.AUTOTUNE, deterministic=True)
    return dataset.prefetch(tf.data.AUTOTUNE)


def normalize_batch(batch):
    """TensorFlow twin of ``to_model_input``'s min-max (same float32 arithmetic) for (B, H, W, 1) batches."""
    from lanmsff_edge.keras import tf

    low = tf.reduce_min(batch, axis=[1, 2, 3], keepdims=True)
    span = tf.reduce_max(batch, axis=[1, 2, 3], keepdims=True) - low
    safe = tf.where(span > 0, span, tf.ones_like(span))
    return tf.where(span > 0, (batch - low) / safe, tf.zeros_like(batch))
