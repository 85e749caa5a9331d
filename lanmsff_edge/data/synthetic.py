"""Procedurally drawn gray faces for the 8 FERPlus expressions: the zero-download data set.

Each face is drawn at twice the model resolution with Pillow and shrunk to 64×64 (anti-aliased edges).
Expressions move the eyes, brows and mouth (FACS-like cues: a smile lifts the mouth corners, surprise opens a
round mouth under raised brows, anger lowers the inner brows, ...). Nuisances the model must learn to ignore:
identity (head size and shape, feature spacing and size, hair), yaw pose (features shift towards the turned side
and the far half compresses, as on a sphere), position and scale, lighting gradients, contrast and noise.
Poses are tagged "-30", "0" or "+30" (the nominal yaw; the drawn yaw varies ±8° around it).

Everything comes from one NumPy generator seeded by (seed, split), so a split is identical on every run and the
three splits never share an image.

Learnability, measured: a ridge classifier on 32×32 pixels reaches ~75 % validation accuracy (2400 train images),
so the classes are separable. ``lanmsff-edge train --dataset synthetic --limit 800 --width 0.25 --batch-size 16``
(Adam 1e-3, online augmentation) reaches 17-19 % validation accuracy after 3 epochs and 53 % after 8 (chance
12.5 %); small CNNs need ~100 steps before they leave chance on these thin-stroke cues.
"""
import math

import numpy as np
from PIL import Image, ImageDraw

from lanmsff_edge.data.classes import FERPLUS_CLASSES, SPLITS
from lanmsff_edge.data.common import IMAGE_SIZE, LabeledImages

DEFAULT_SIZES = {"train": 2400, "val": 480, "test": 480}
POSES = ("-30", "0", "+30")
_CANVAS = 2 * IMAGE_SIZE
_SPLIT_STREAM = {split: index for index, split in enumerate(SPLITS)}

# Expression → displacement of the face parts from neutral, in units of the head half-width.
#   eye: eyelid opening (×), brow_in / brow_out: inner / outer brow end raise (+ = up),
#   mouth_l / mouth_r: left / right mouth-corner raise, open: lip separation, width: mouth width (×),
#   upper: extra lift of the upper lip's middle (disgust), wrinkle: nose wrinkles on/off.
_NEUTRAL = dict(eye=1.0, brow_in=0.0, brow_out=0.0, mouth_l=0.0, mouth_r=0.0, open=0.0, width=1.0,
                upper=0.0, wrinkle=0.0)
EXPRESSIONS = {
    "neutral": {},
    "happiness": dict(eye=0.65, brow_in=0.03, brow_out=0.03, mouth_l=0.26, mouth_r=0.26, open=0.08, width=1.25),
    "surprise": dict(eye=1.7, brow_in=0.2, brow_out=0.2, open=0.5, width=0.5),
    "sadness": dict(eye=0.8, brow_in=0.18, brow_out=-0.06, mouth_l=-0.2, mouth_r=-0.2, width=0.9),
    "anger": dict(eye=0.6, brow_in=-0.18, brow_out=0.06, mouth_l=-0.03, mouth_r=-0.03, width=0.65),
    "disgust": dict(eye=0.5, brow_in=-0.1, brow_out=-0.03, mouth_l=-0.08, mouth_r=-0.08, open=0.12,
                    width=0.85, upper=0.14, wrinkle=1.0),
    "fear": dict(eye=1.7, brow_in=0.18, brow_out=0.06, mouth_l=-0.06, mouth_r=-0.06, open=0.2, width=1.3),
    "contempt": dict(brow_out=0.04, mouth_r=0.24, mouth_l=-0.02, width=0.95),  # mirrored at random
}
assert tuple(EXPRESSIONS) == FERPLUS_CLASSES


def generate(split="train", size=None, seed=0):
    """``size`` synthetic faces for ``split`` (defaults: train 2400, val 480, test 480), classes balanced."""
    size = DEFAULT_SIZES[split] if size is None else int(size)
    rng = np.random.default_rng(np.random.SeedSequence([int(seed), _SPLIT_STREAM[split], 0x5EED]))
    labels = rng.permutation(np.arange(size) % len(FERPLUS_CLASSES)).astype(np.int64)
    pose_index = rng.integers(0, len(POSES), size)
    images = np.empty((size, IMAGE_SIZE, IMAGE_SIZE), np.float32)
    for i in range(size):
        yaw = float(POSES[pose_index[i]]) + rng.uniform(-8, 8)
        images[i] = _draw_face(rng, FERPLUS_CLASSES[labels[i]], yaw)
    images = _light_and_noise(rng, images)
    return LabeledImages(
        dataset="synthetic",
        split=split,
        class_names=FERPLUS_CLASSES,
        images=images,
        labels=labels,
        names=[f"synthetic-{split}-{seed}-{i:05d}" for i in range(size)],
        poses=np.array([POSES[p] for p in pose_index], dtype=object),
    )


def _expression(rng, name):
    """The expression's part displacements at a random intensity (80–110 %), contempt mirrored at random."""
    intensity = rng.uniform(0.8, 1.1)
    params = {key: value + intensity * (EXPRESSIONS[name].get(key, value) - value) for key, value in _NEUTRAL.items()}
    mirror = rng.random() < 0.5  # drawn for every class, so identity draws stay aligned across expressions
    if name == "contempt" and mirror:
        params["mouth_l"], params["mouth_r"] = params["mouth_r"], params["mouth_l"]
    return params


def _draw_face(rng, expression, yaw_degrees):
    """One face as float32 64×64 in 0..255 (before lighting and noise)."""
    e = _expression(rng, expression)
    background = rng.uniform(10, 245)
    skin = rng.uniform(110, 235)
    if abs(skin - background) < 40:  # keep the head visible
        skin = background + 40 if background < 150 else background - 40
    dark = max(0.0, skin - rng.uniform(90, 150))  # eyes, brows, lips

    image = Image.new("L", (_CANVAS, _CANVAS), int(background))
    draw = ImageDraw.Draw(image)
    half_width = rng.uniform(60, 68)
    half_height = half_width * rng.uniform(1.15, 1.3)
    centre_x = _CANVAS / 2 + rng.uniform(-5, 5)
    centre_y = _CANVAS / 2 + rng.uniform(-3, 7)
    yaw = math.radians(yaw_degrees)
    draw.ellipse(_box(centre_x, centre_y, half_width, half_height), fill=int(skin))
    if rng.random() < 0.6:  # hair: a darker cap over the top of the head
        hair = max(0.0, skin - rng.uniform(40, 120))
        start = rng.uniform(220, 235)
        draw.chord(_box(centre_x, centre_y, half_width * 1.04, half_height * 1.03), start, 540 - start, fill=int(hair))

    def point(u, v):
        """Face-frame point (u across, v down, units of half-width; u = ±1 at the cheeks) → canvas x, y."""
        depth = math.sqrt(max(0.0, 1.0 - min(u * u, 1.0)))
        return centre_x + half_width * (u * math.cos(yaw) + depth * math.sin(yaw)), centre_y + half_width * v

    def squeeze(u):
        """Horizontal foreshortening of a small part centred at u (1 = unchanged)."""
        slope = u / math.sqrt(max(1e-3, 1.0 - u * u))
        return float(np.clip(math.cos(yaw) - slope * math.sin(yaw), 0.25, 1.0))

    eye_u = rng.uniform(0.32, 0.42)
    eye_v = rng.uniform(-0.35, -0.2)
    eye_w = rng.uniform(0.17, 0.22)
    eye_h = rng.uniform(0.08, 0.1) * e["eye"]
    brow_gap = rng.uniform(0.12, 0.18)
    brow_thick = int(half_width * rng.uniform(0.11, 0.16))
    for side in (-1, 1):
        u = side * eye_u
        x, y = point(u, eye_v)
        squash = squeeze(u)
        draw.ellipse(_box(x, y, half_width * eye_w * squash, half_width * eye_h), fill=int(min(255, skin + 25)),
                     outline=int(dark), width=3)
        pupil = half_width * min(eye_h, eye_w * 0.5) * 0.9
        draw.ellipse(_box(x, y, pupil * squash, pupil), fill=int(dark))
        inner = point(side * (eye_u - eye_w * 1.1), eye_v - brow_gap - e["brow_in"])
        outer = point(side * (eye_u + eye_w * 1.1), eye_v - brow_gap - e["brow_out"])
        draw.line((inner, outer), fill=int(dark), width=brow_thick)

    nose_v = rng.uniform(0.12, 0.22)
    top, tip = point(0.0, nose_v - 0.25), point(0.0, nose_v)
    nose_w = half_width * 0.1 * squeeze(0.0)
    draw.line((top, tip, (tip[0] + nose_w, tip[1])), fill=int(dark), width=2)
    if e["wrinkle"] > 0.5:
        for side in (-1, 1):
            for step in (0.0, 0.07):
                a = point(side * 0.1, nose_v - 0.2 + step)
                b = point(side * 0.2, nose_v - 0.14 + step)
                draw.line((a, b), fill=int(dark), width=2)

    _draw_mouth(draw, point, e, rng.uniform(0.5, 0.6), rng.uniform(0.3, 0.38), dark, int(half_width * 0.13))
    small = image.resize((IMAGE_SIZE, IMAGE_SIZE), Image.BILINEAR, reducing_gap=None)
    return np.asarray(small, dtype=np.float32)


def _draw_mouth(draw, point, e, mouth_v, mouth_w, dark, stroke):
    """Lips as two curves through the corners; an open mouth is filled dark between them."""
    width = mouth_w * e["width"]
    t = np.linspace(-1.0, 1.0, 15)
    corner_lift = e["mouth_l"] * (1 - t) / 2 + e["mouth_r"] * (1 + t) / 2
    centre_line = mouth_v - corner_lift * t * t
    bulge = np.sqrt(np.clip(1 - t * t, 0, 1))
    upper = centre_line - (e["open"] / 2 + e["upper"]) * bulge
    lower = centre_line + e["open"] / 2 * bulge
    if e["upper"] > 0:  # disgust: the raised upper lip is squarer, lifted most off-centre
        upper = upper - e["upper"] * 0.5 * np.abs(np.sin(np.pi * t))
    upper_points = [point(u, v) for u, v in zip(width * t, upper)]
    lower_points = [point(u, v) for u, v in zip(width * t, lower)]
    lip = int(dark)
    if e["open"] > 0.03:
        draw.polygon(upper_points + lower_points[::-1], fill=int(dark * 0.4), outline=lip)
        draw.line(upper_points, fill=lip, width=stroke)
        draw.line(lower_points, fill=lip, width=stroke)
    else:
        draw.line(upper_points, fill=lip, width=int(stroke * (1.5 if e["width"] < 0.8 else 1.0)))


def _box(x, y, rx, ry):
    return (x - rx, y - ry, x + rx, y + ry)


def _light_and_noise(rng, faces):
    """Lighting gradient, contrast, blur-free sensor noise; faces float32 (N, 64, 64) → uint8."""
    n = len(faces)
    coords = np.linspace(-1.0, 1.0, IMAGE_SIZE, dtype=np.float32)
    angle = rng.uniform(0, 2 * np.pi, n).astype(np.float32)
    strength = rng.uniform(0.0, 0.3, n).astype(np.float32)
    gradient = (np.cos(angle)[:, None, None] * coords[None, None, :]
                + np.sin(angle)[:, None, None] * coords[None, :, None])
    lit = faces * (1.0 + strength[:, None, None] * gradient)
    contrast = rng.uniform(0.75, 1.2, n).astype(np.float32)[:, None, None]
    mean = lit.mean(axis=(1, 2), keepdims=True)
    lit = mean + contrast * (lit - mean)
    noise = (rng.normal(0.0, 1.0, faces.shape).astype(np.float32)
             * rng.uniform(2, 7, n).astype(np.float32)[:, None, None])
    return np.clip(np.rint(lit + noise), 0, 255).astype(np.uint8)
