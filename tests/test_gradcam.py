"""gradcam: the Grad-CAM maths on a model with a known answer, the LANMSFF target layer, the PNG, the CLI."""
import cv2
import numpy as np
import pytest

from lanmsff_edge.errors import UserError
from lanmsff_edge.gradcam import TARGET_LAYER, explain_image, grad_cam, render


@pytest.fixture(scope="module")
def known_answer_model():
    """image → 1×1 conv with channel 0 = x and channel 1 = 1 − x → GAP → identity dense → softmax.

    Class 0's logit is the mean of channel 0, so its Grad-CAM must be the image itself (bright = hot);
    class 1's is the mean of channel 1, so its Grad-CAM is the inverted image (dark = hot).
    """
    from lanmsff_edge.keras import keras

    inputs = keras.Input((64, 64, 1))
    conv = keras.layers.Conv2D(2, 1, name="probe_conv")
    features = conv(inputs)
    head = keras.layers.Dense(2, activation="softmax", name="head")
    outputs = head(keras.layers.GlobalAveragePooling2D()(features))
    conv.set_weights([np.array([1.0, -1.0], np.float32).reshape(1, 1, 1, 2), np.array([0.0, 1.0], np.float32)])
    head.set_weights([np.eye(2, dtype=np.float32), np.zeros(2, np.float32)])
    return keras.Model(inputs, outputs)


def test_grad_cam_weights_channels_by_the_class_score_gradient(known_answer_model):
    face = np.zeros((64, 64), np.uint8)
    face[10:20, 40:50] = 255  # one bright patch on black
    bright = grad_cam(known_answer_model, face, class_index=0)
    dark = grad_cam(known_answer_model, face, class_index=1)
    assert bright.layer == "probe_conv" and bright.heat.shape == (64, 64)
    expected = face.astype(np.float32) / 255
    np.testing.assert_allclose(bright.heat, expected, atol=1e-6)
    np.testing.assert_allclose(dark.heat, 1.0 - expected, atol=1e-6)
    # the probabilities are the model's own output
    np.testing.assert_allclose(bright.probabilities,
                               known_answer_model.predict(expected[None, ..., None], verbose=0)[0], atol=1e-6)


def test_grad_cam_of_lanmsff_uses_block4_last_conv_and_is_not_flat(tiny_lanmsff, face_scene):
    model, _ = tiny_lanmsff
    face = cv2.resize(face_scene(200, 200, [(100, 100, 70)])[5:195, 5:195], (64, 64), interpolation=cv2.INTER_AREA)
    result = grad_cam(model, face)
    assert result.layer == TARGET_LAYER and result.heat.shape == (8, 8)
    assert result.heat.min() >= 0 and result.heat.max() == pytest.approx(1.0)
    assert result.heat.std() > 0.05  # a map, not a constant
    assert result.class_index == int(np.argmax(result.probabilities))


def test_render_has_the_documented_size():
    picture = render(np.full((100, 100), 120, np.uint8), np.eye(8, dtype=np.float32), "predicted x 0.50", 128)
    assert picture.shape == (128 + 16, 256, 3)
    assert (picture[16:, :128] == 120).all()  # left panel: the face untouched
    assert picture[16:, 128:].std() > 10  # right panel: the colormap over it


def test_explain_image_writes_the_png(tiny_lanmsff, face_scene, tmp_path):
    _, path = tiny_lanmsff
    photo = tmp_path / "face.png"
    cv2.imwrite(str(photo), face_scene(400, 360, [(200, 180, 80)]))
    out = tmp_path / "heat.png"
    report = explain_image(photo, model=str(path), out=out, size=128)
    picture = cv2.imread(str(out))
    assert picture.shape == (144, 256, 3) and report.shape == (144, 256)
    assert report.faces_found == 1
    overlay = picture[16:, 128:].astype(np.float32)
    assert overlay.std(axis=(0, 1)).max() > 10  # the heat map varies across the face
    with pytest.raises(UserError, match="--class joy: the model's classes are neutral, happiness"):
        explain_image(photo, model=str(path), class_name="joy", out=out)


def test_cli_writes_the_heat_map_and_explains_failures(run_cli, tiny_lanmsff, face_scene, tmp_path):
    _, path = tiny_lanmsff
    photo, blank = tmp_path / "face.jpg", tmp_path / "blank.png"
    cv2.imwrite(str(photo), face_scene(400, 360, [(200, 180, 80)]))
    cv2.imwrite(str(blank), np.full((100, 100), 128, np.uint8))
    out = tmp_path / "out" / "heat.png"
    result = run_cli("gradcam", photo, "--model", path, "--class", "anger", "--out", out)
    assert result.exit_code == 0, result.output
    assert "explained   anger" in result.output and f"on layer {TARGET_LAYER} (8×8)" in result.output
    assert f"wrote       {out} (512×288)" in result.output
    assert cv2.imread(str(out)).shape == (288, 512, 3)

    result = run_cli("gradcam", blank, "--model", path, "--out", out)
    assert result.exit_code == 1 and "no face found" in result.output and "--no-detect" in result.output
    result = run_cli("gradcam", blank, "--model", path, "--no-detect", "--out", tmp_path / "flat.png")
    assert result.exit_code == 0, result.output

    tflite = tmp_path / "model.tflite"
    tflite.write_bytes(b"TFL3")
    result = run_cli("gradcam", photo, "--model", tflite, "--out", out)
    assert result.exit_code == 1 and "float .keras model" in result.output
