"""The paper's augmentation (IV.B): crop (resize to 72, random 64×64 crop), rotation ±15°, horizontal flip.

The three are composed into one affine map per image and applied with a single bilinear resampling
(``ImageProjectiveTransformV3``, edges reflected), which is the same geometry as resize-crop-rotate-flip done one
after the other, with less blur and in one op for a whole batch. All randomness is stateless: the same seed gives
the same images.
"""
import numpy as np

from lanmsff_edge.data.common import IMAGE_SIZE, LabeledImages

CROP_FROM = 72
MAX_ROTATION_DEGREES = 15.0
PAPER_COPIES = 3  # the authors' offline expansion: original + 3 augmented copies (×4)


def random_transforms(seed, count):
    """``count`` random affine transforms, float32 (count, 8), for ``ImageProjectiveTransformV3``.

    ``seed``: a stateless seed, int tensor of shape (2,). Each transform maps an output pixel to the source
    pixel it samples: flip, then rotation about the centre, then the crop window of a 72×72 upscale.
    """
    from lanmsff_edge.keras import tf

    draws = tf.random.stateless_uniform([count, 4], seed=seed, dtype=tf.float32)
    offset = tf.floor(draws[:, :2] * (CROP_FROM - IMAGE_SIZE + 1))  # crop corner 0..8 in the 72 grid
    angle = (draws[:, 2] * 2.0 - 1.0) * (MAX_ROTATION_DEGREES * np.pi / 180.0)
    flip = tf.cast(draws[:, 3] < 0.5, tf.float32)
    return _compose(offset[:, 0], offset[:, 1], angle, flip)


def _compose(offset_x, offset_y, angle, flip):
    """output (x, y) → p1 = flip(x, y) → p2 = R(angle)(p1 − c) + c → source = s·(p2 + offset + ½) − ½.

    s = 64/72 undoes the upscale (half-pixel centres, as ``tf.image.resize``), c is the image centre.
    """
    from lanmsff_edge.keras import tf

    scale = IMAGE_SIZE / CROP_FROM
    centre = (IMAGE_SIZE - 1) / 2.0
    cos, sin = tf.cos(angle), tf.sin(angle)
    sign = 1.0 - 2.0 * flip  # −1 mirrors x
    a00, a01 = scale * cos * sign, -scale * sin
    a10, a11 = scale * sin * sign, scale * cos
    # p1 = (sign·x + flip·(W−1), y); p2 = R p1 + c − R c
    shift_x = flip * (IMAGE_SIZE - 1)
    p2x = cos * shift_x + centre - (cos * centre - sin * centre)
    p2y = sin * shift_x + centre - (sin * centre + cos * centre)
    t0 = scale * (p2x + offset_x + 0.5) - 0.5
    t1 = scale * (p2y + offset_y + 0.5) - 0.5
    zeros = tf.zeros_like(angle)
    return tf.stack([a00, a01, t0, a10, a11, t1, zeros, zeros], axis=1)


def apply_transforms(images, transforms):
    """Resample float32 (N, 64, 64, 1) images with per-image transforms (bilinear, edges reflected)."""
    from lanmsff_edge.keras import tf

    return tf.raw_ops.ImageProjectiveTransformV3(
        images=images,
        transforms=transforms,
        output_shape=tf.constant([IMAGE_SIZE, IMAGE_SIZE], tf.int32),
        fill_value=tf.constant(0.0, tf.float32),
        interpolation="BILINEAR",
        fill_mode="REFLECT",
    )


def augment_batch(images, seed):
    """Randomly crop, rotate and flip float32 (N, 64, 64, 1) images; values stay within each image's range."""
    from lanmsff_edge.keras import tf

    count = tf.shape(images)[0]
    return apply_transforms(images, random_transforms(seed, count))


def paper_augment(images: LabeledImages, seed=0, copies=PAPER_COPIES, chunk=1024):
    """The paper's offline expansion: the originals followed by ``copies`` augmented copies (×4 by default).

    Augmented images are rounded back to uint8 (they are resampled, not rescaled, so no range is lost) and named
    ``<name>#aug<k>``. Deterministic per seed.
    """
    from lanmsff_edge.keras import tf

    parts = [images.images]
    for copy in range(1, copies + 1):
        for start in range(0, len(images), chunk):
            batch = tf.convert_to_tensor(images.images[start:start + chunk, :, :, None], tf.float32)
            seed_pair = tf.constant([int(seed), copy * 1_000_003 + start], tf.int64)
            out = augment_batch(batch, seed_pair).numpy()[..., 0]
            parts.append(np.clip(np.rint(out), 0, 255).astype(np.uint8))
    total = copies + 1
    names = list(images.names) + [f"{name}#aug{k}" for k in range(1, total) for name in images.names]
    return LabeledImages(
        dataset=images.dataset,
        split=images.split,
        class_names=images.class_names,
        images=np.concatenate(parts) if len(images) else images.images,
        labels=np.tile(images.labels, total),
        names=names if images.names else [],
        poses=None if images.poses is None else np.tile(images.poses, total),
        votes=None if images.votes is None else np.tile(images.votes, (total, 1)),
        skipped=images.skipped,
        skipped_names=list(images.skipped_names),
    )
