"""Checks of a data set's splits that catch, before hours of training, what would make its numbers untrustworthy.

- a split far blurrier than another (median Laplacian variance): a degraded copy, e.g. training images that went
  through a lossy resize. A model trained on it does not recognise sharp faces, whatever the recipe;
- images of one split that are pixel-for-pixel copies of another's: validation accuracy is then optimistic;
- blank images (one gray level) and classes with no images in a split;
- images that could not be decoded and were left out (counted, a few named).

Findings are warnings: ``train`` prints them and records them in the run's config.json; ``lanmsff-edge check-data``
prints them beside the per-split figures (``--strict`` makes them an error).
"""
import hashlib

import numpy as np

SHARPNESS_RATIO = 10.0  # split medians further apart than this: one split is a degraded copy of the data


def sharpness(images):
    """Per-image variance of the 3×3 Laplacian of uint8 (N, H, W) images: ~0 for a blurred face, hundreds for
    a sharp 64×64 one."""
    x = np.asarray(images, dtype=np.float32)
    if x.ndim == 4:
        x = x[..., 0]
    laplacian = (x[:, :-2, 1:-1] + x[:, 2:, 1:-1] + x[:, 1:-1, :-2] + x[:, 1:-1, 2:] - 4.0 * x[:, 1:-1, 1:-1])
    return laplacian.reshape(len(x), -1).var(axis=1)


def _fingerprints(images):
    return [hashlib.blake2b(image.tobytes(), digest_size=12).digest() for image in np.asarray(images, np.uint8)]


def split_stats(images):
    """Figures of one loaded split (``LabeledImages``), JSON-ready."""
    x = np.asarray(images.images)
    flat = x.reshape(len(x), -1) if len(x) else np.zeros((0, 1), np.uint8)
    return {
        "split": images.split,
        "images": int(len(x)),
        "class_counts": dict(zip(images.class_names, images.class_counts().tolist())),
        "sharpness_median": float(np.median(sharpness(x))) if len(x) else None,
        "brightness_mean": float(flat.mean()) if len(x) else None,
        "contrast_mean": float(flat.std(axis=1).mean()) if len(x) else None,
        "blank": int((flat.min(axis=1) == flat.max(axis=1)).sum()) if len(x) else 0,
        "skipped": int(images.skipped),
    }


def audit(splits):
    """``{"splits": [stats...], "findings": [one-line warnings]}`` for ``splits``, a list of loaded
    ``LabeledImages`` (the first is the reference, normally train)."""
    stats = [split_stats(images) for images in splits]
    findings = []
    for images, figures in zip(splits, stats):
        if images.skipped:
            text = images.skipped_text()
            findings.append(text.replace(" could not be decoded (", " could not be decoded and were left out (", 1)
                            if " could not be used" not in text else text + "; left out")
        if figures["blank"]:
            findings.append(f"{figures['blank']:,} {images.split} image(s) are blank (a single gray level)")
        missing = [name for name, count in figures["class_counts"].items() if count == 0]
        if missing and figures["images"]:
            findings.append(f"{images.split} has no images of {', '.join(missing)}")
    if len(splits) >= 2:
        findings += _blur_findings(stats) + _copy_findings(splits)
    return {"splits": stats, "findings": findings}


def _blur_findings(stats):
    reference = stats[0]
    findings = []
    for other in stats[1:]:
        a, b = reference["sharpness_median"], other["sharpness_median"]
        if not a or not b or max(a, b) / max(min(a, b), 1e-6) < SHARPNESS_RATIO:
            continue
        blurry, sharp = (reference, other) if a < b else (other, reference)
        findings.append(
            f"{blurry['split']} images are far blurrier than {sharp['split']} (median sharpness "
            f"{blurry['sharpness_median']:.1f} vs {sharp['sharpness_median']:.1f}, variance of the Laplacian): "
            f"a degraded copy of the data? A model trained on one will not carry over to the other")
    return findings


def copied_from(images, reference):
    """Boolean mask over ``images``: True where an image is a pixel-for-pixel copy of one in ``reference``."""
    seen = set(_fingerprints(reference))
    return np.array([fingerprint in seen for fingerprint in _fingerprints(images)], dtype=bool)


def _copy_findings(splits):
    findings = []
    for images in splits[1:]:
        copies = int(copied_from(images.images, splits[0].images).sum())
        if copies:
            share = 100 * copies / len(images)
            findings.append(f"{copies:,} of {len(images):,} {images.split} images ({share:.1f} %) are pixel-identical "
                            f"to {splits[0].split} images: {images.split} accuracy includes them "
                            f"(evaluate --unseen leaves them out)")
    return findings
