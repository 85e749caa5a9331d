"""Face detectors compared on FERPlus validation faces: OpenCV's Haar cascade against BlazeFace (short, full range).

    python benchmarks/face_detectors.py --data ../shared/data/ferplus.tar.gz [--images 600] [--markdown out.md]

Each face (the 48×48 FER frame, loaded at 64×64) is scaled ×3 and centred in a canvas twice its size, the border
replicated, so the true frame is known and a box may leave it. Poses of our own making, applied to the face plane:
yaw (a turn about the vertical axis, as a perspective warp of the flat face: a stand-in for a real head turn, which
also hides the far cheek) and roll (in-plane rotation). Per detector:

- found %: faces with a box whose centre lies inside the (warped) true frame, by yaw and by roll;
- framing: on the first half of the images, upright, the median true-frame side / box side and the centre offset
  (a crop rule, ``faces.Framing``); on the second half, the median IoU with the true frame of that rule's crop and
  of the rule the package ships (``faces.FRAMINGS``);
- speed: the median time of one detection on a 640×480 photo, as a ratio to Haar's (one run, one process).
"""
import argparse
import time

import cv2
import numpy as np

from lanmsff_edge.blazeface import BlazeFaceDetector
from lanmsff_edge.data import load_dataset
from lanmsff_edge.faces import FRAMINGS, Framing, HaarFaceDetector

YAWS = (0, 15, 30, 45, 60)
ROLLS = (15, 30, 45)
SCALE = 3


def canvas(face):
    """The face ×SCALE centred in a canvas twice its side, border replicated; and the true frame (x, y, side)."""
    big = cv2.resize(face, None, fx=SCALE, fy=SCALE, interpolation=cv2.INTER_CUBIC)
    side = big.shape[0]
    pad = side // 2
    return cv2.copyMakeBorder(big, pad, pad, pad, pad, cv2.BORDER_REPLICATE), (pad, pad, side)


def posed(image, frame, yaw=0, roll=0):
    """The image with the face plane turned by ``yaw`` degrees and rotated by ``roll``; the true frame's corners."""
    x, y, side = frame
    corners = np.float32([[x, y], [x + side, y], [x + side, y + side], [x, y + side]])
    centre = corners.mean(axis=0)
    theta = np.radians(yaw)
    focal = 2.0 * side  # a camera at two face widths: perspective on the near and far edges
    moved = []
    for cx, cy in corners - centre:
        X, Z = cx * np.cos(theta), cx * np.sin(theta)
        moved.append([focal * X / (focal + Z), focal * cy / (focal + Z)])
    rotation = cv2.getRotationMatrix2D((0, 0), roll, 1.0)[:, :2]
    target = np.float32(moved) @ rotation.T + centre
    warp = cv2.getPerspectiveTransform(corners, target.astype(np.float32))
    turned = cv2.warpPerspective(image, warp, image.shape[::-1], borderMode=cv2.BORDER_REPLICATE)
    return turned, target


def found(boxes, target):
    polygon = target.reshape(-1, 1, 2).astype(np.float32)
    return any(cv2.pointPolygonTest(polygon, (bx + bw / 2, by + bh / 2), False) >= 0 for bx, by, bw, bh in boxes)


def iou(a, b):
    ax, ay, aw, ah = a
    bx, by, bw, bh = b
    w = max(0, min(ax + aw, bx + bw) - max(ax, bx))
    h = max(0, min(ay + ah, by + bh) - max(ay, by))
    return w * h / (aw * ah + bw * bh - w * h)


def biggest(boxes):
    return max(boxes, key=lambda b: b[2] * b[3]) if boxes else None


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", required=True, help="ferplus.tar.gz or its folder")
    parser.add_argument("--images", type=int, default=600, help="first N FERPlus validation images")
    parser.add_argument("--markdown", help="also write the table here")
    args = parser.parse_args()

    faces = load_dataset("ferplus", args.data, split="val", limit=args.images).images
    detectors = {"haar": HaarFaceDetector(), "blazeface": BlazeFaceDetector("short"),
                 "blazeface-full": BlazeFaceDetector("full")}
    half = len(faces) // 2
    rows = {}
    for name, detector in detectors.items():
        hits = {("yaw", a): 0 for a in YAWS} | {("roll", a): 0 for a in ROLLS}
        upright = []  # (box, frame) of each face found upright
        for index, face in enumerate(faces):
            image, frame = canvas(face)
            for kind, angle in hits:
                turned, target = posed(image, frame, **{kind: angle})
                boxes = detector.detect(turned)
                hits[kind, angle] += found(boxes, target)
                if (kind, angle) == ("yaw", 0) and boxes:
                    upright.append((index, biggest(boxes), frame))
        fit = [(box, frame) for index, box, frame in upright if index < half]
        ratio = np.median([side / max(box[2:]) for box, (x, y, side) in fit])
        shift = np.median([((x + side / 2 - box[0] - box[2] / 2) / box[2],
                        (y + side / 2 - box[1] - box[3] / 2) / box[3])
                           for box, (x, y, side) in fit], axis=0)
        rule = Framing(round(float(ratio), 2), round(float(shift[0]), 2), round(float(shift[1]), 2))
        overlaps = [iou(rule.crop_box(box), (x, y, side, side)) for index, box, (x, y, side) in upright
                    if index >= half]
        shipped = [iou(FRAMINGS[name.split("-")[0]].crop_box(box), (x, y, side, side))
                   for index, box, (x, y, side) in upright if index >= half]
        photo = cv2.resize(np.ascontiguousarray(canvas(faces[0])[0]), (640, 480))
        detector.detect(photo)
        times = []
        for _ in range(30):
            start = time.perf_counter()
            detector.detect(photo)
            times.append(time.perf_counter() - start)
        rows[name] = dict(hits={k: v / len(faces) for k, v in hits.items()}, rule=rule, iou=np.median(overlaps),
                          shipped=np.median(shipped), ms=1000 * np.median(times))

    header = (["detector"] + [f"yaw {a}°" for a in YAWS] + [f"roll {a}°" for a in ROLLS]
              + ["crop rule (fit): scale, shift x, y", "crop IoU, fit / shipped rule", "time vs Haar"])
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    for name, row in rows.items():
        cells = [name] + [f"{100 * row['hits'][k]:.0f} %" for k in row["hits"]]
        rule = row["rule"]
        cells += [f"{rule.scale:.2f}, {rule.shift_x:+.2f}, {rule.shift_y:+.2f}",
                  f"{row['iou']:.2f} / {row['shipped']:.2f}", f"{row['ms'] / rows['haar']['ms']:.2f}×"]
        lines.append("| " + " | ".join(cells) + " |")
    text = "\n".join(lines)
    print(f"FERPlus validation, first {len(faces)} images ({half} to fit the framing, {len(faces) - half} to "
          f"measure its IoU); found % over all {len(faces)}")
    print(text)
    if args.markdown:
        with open(args.markdown, "w", encoding="utf-8") as out:
            out.write(text + "\n")


if __name__ == "__main__":
    main()
