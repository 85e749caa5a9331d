"""BlazeFace's score threshold: real faces kept against false faces, to choose predict's --min-face-score default.

    python benchmarks/face_scores.py --data ../shared/data/ferplus.tar.gz [--images 300]

Scores are those of ``faces.find_faces`` (what predict filters on: a rolled face is scored turned upright).
Real faces: FERPlus validation faces placed as in ``face_detectors.py`` (×3 in a canvas twice their size), upright,
turned (yaw 30°, 45°) and rolled (30°, 90°); a face counts as kept at a threshold when a detection whose centre lies
in its true frame scores at least that much. False faces: every detection of scikit-image's astronaut photo, turned
by 0°, 90°, 180° and 270°, that is not the astronaut's face (its box centre outside her face's frame, turned with
the photo). One run on this machine; the figures are counts, not timings.
"""
import argparse

import cv2
import numpy as np
from face_detectors import canvas, posed

from lanmsff_edge.data import load_dataset
from lanmsff_edge.faces import find_faces, make_detector

THRESHOLDS = (0.5, 0.55, 0.6, 0.65, 0.7, 0.75, 0.8)
POSES = (("upright", {}), ("yaw 30°", {"yaw": 30}), ("yaw 45°", {"yaw": 45}), ("roll 30°", {"roll": 30}),
         ("roll 90°", {"roll": 90}))
ASTRONAUT_FACE = (175, 72, 99, 99)  # her face's BlazeFace box in the upright photo (x, y, w, h)


def scored(detector, image):
    """(box, score) of each face predict would see (``find_faces``: a rolled face is scored upright)."""
    return [(face.box, face.score) for face in find_faces(image, detector=detector)]


def best_score(detector, image, target):
    polygon = target.reshape(-1, 1, 2).astype(np.float32)
    inside = [score for (x, y, w, h), score in scored(detector, image)
              if cv2.pointPolygonTest(polygon, (x + w / 2, y + h / 2), False) >= 0]
    return max(inside, default=0.0)


def false_scores(detector):
    from skimage import data

    photo = cv2.cvtColor(data.astronaut(), cv2.COLOR_RGB2GRAY)
    x, y, w, h = ASTRONAUT_FACE
    scores = []
    for turns in range(4):
        turned = np.ascontiguousarray(np.rot90(photo, turns))
        face = np.float32([[x, y], [x + w, y], [x + w, y + h], [x, y + h]])
        for _ in range(turns):  # np.rot90 turns counter-clockwise: (x, y) → (y, width - x)
            face = np.stack([face[:, 1], photo.shape[1] - face[:, 0]], axis=1)
        polygon = face.reshape(-1, 1, 2)
        scores += [score for (bx, by, bw, bh), score in scored(detector, turned)
                   if cv2.pointPolygonTest(polygon, (bx + bw / 2, by + bh / 2), False) < 0]
    return scores


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", required=True, help="ferplus.tar.gz or its folder")
    parser.add_argument("--images", type=int, default=300, help="first N FERPlus validation images")
    args = parser.parse_args()

    detector = make_detector("blazeface", min_score=min(THRESHOLDS) - 0.2)
    faces = load_dataset("ferplus", args.data, split="val", limit=args.images).images
    kept = {name: [] for name, _ in POSES}
    for face in faces:
        image, frame = canvas(face)
        for name, pose in POSES:
            turned, target = posed(image, frame, **pose)
            kept[name].append(best_score(detector, turned, target))
    false = false_scores(detector)
    header = ["threshold"] + [f"real faces kept, {name}" for name, _ in POSES] + ["false faces (astronaut ×4)"]
    print(f"FERPlus validation, first {len(faces)} images; false faces: {len(false)} detections of the astronaut "
          f"photo at 4 turns that are not her face (scores {', '.join(f'{s:.2f}' for s in sorted(false))})")
    print("| " + " | ".join(header) + " |")
    print("|" + "---|" * len(header))
    for threshold in THRESHOLDS:
        cells = [f"{threshold:.2f}"] + [f"{100 * np.mean(np.asarray(kept[name]) >= threshold):.1f} %"
                                         for name, _ in POSES]
        cells.append(str(sum(score >= threshold for score in false)))
        print("| " + " | ".join(cells) + " |")


if __name__ == "__main__":
    main()
