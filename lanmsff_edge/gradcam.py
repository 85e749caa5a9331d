"""Grad-CAM (Selvaraju et al. 2017) of the float model: where LANMSFF looks (the paper's Fig. 6).

The heat map is taken on block 4's last convolution before pooling (``block4_c1x1_conv``, 8×8 at 64×64 input):
the class score's gradient, averaged over the map, weights each channel; ReLU; scaled to [0, 1]. The class
score is the logit (the softmax head's input times its kernel, plus bias), as Grad-CAM prescribes, not the
probability, whose gradient vanishes for confident predictions.

The picture (``render``) is two SIZE×SIZE panels side by side, the face crop and the crop with the heat map
overlaid (JET colormap), under a title band of SIZE/8 pixels: 2·SIZE × (SIZE + SIZE/8), 512×288 by default.
"""
from dataclasses import dataclass

import numpy as np

from lanmsff_edge.errors import UserError

TARGET_LAYER = "block4_c1x1_conv"
DEFAULT_SIZE = 256
OVERLAY_ALPHA = 0.45


@dataclass
class GradCam:
    """``heat``: (h, w) float in [0, 1] at the target layer's resolution; ``probabilities``: the model's output."""

    heat: np.ndarray
    class_index: int
    probabilities: np.ndarray
    layer: str

    @property
    def flat(self):
        """True when no location raised the class score (all-zero map after ReLU)."""
        return not np.any(self.heat > 0)


def target_layer(model, name=None):
    """The layer to explain: ``name``, else ``block4_c1x1_conv``, else the last layer with a 4-D output."""
    if name is not None:
        try:
            layer = model.get_layer(name)
        except ValueError:
            raise UserError(f"--layer {name}: the model has no such layer") from None
        try:
            shape = tuple(layer.output.shape)
        except (AttributeError, ValueError, TypeError):  # several outputs, or none
            shape = None
        if shape is None or len(shape) != 4:
            raise UserError(f"--layer {name}: its output is {'not one tensor' if shape is None else tuple(shape)}; "
                            f"Grad-CAM needs a layer with a spatial N×H×W×C output (e.g. {TARGET_LAYER})")
        return layer
    names = {layer.name for layer in model.layers}
    if TARGET_LAYER in names:
        return model.get_layer(TARGET_LAYER)
    for layer in reversed(model.layers):
        shape = getattr(layer, "output_shape", None)
        if isinstance(shape, tuple) and len(shape) == 4 and "conv" in type(layer).__name__.lower():
            return layer
    raise UserError(f"model {model.name} has no convolution with a spatial output to explain")


def grad_cam(model, face, class_index=None, layer=None):
    """Grad-CAM of ``model`` on one uint8 64×64 face for ``class_index`` (default: the predicted class)."""
    from lanmsff_edge.data.common import to_model_input
    from lanmsff_edge.keras import keras, tf

    layer = target_layer(model, layer)
    head = model.layers[-1]
    logits_from_head = isinstance(head, keras.layers.Dense) and head.activation is keras.activations.softmax
    outputs = [layer.output, head.input if logits_from_head else model.output]
    probe = keras.Model(model.inputs, outputs)
    x = tf.constant(to_model_input(np.asarray(face)[None]))
    with tf.GradientTape() as tape:
        features, last = probe(x, training=False)
        logits = tf.matmul(last, head.kernel) + head.bias if logits_from_head else last
        probabilities = tf.nn.softmax(logits) if logits_from_head else last
        if class_index is None:
            class_index = int(tf.argmax(probabilities[0]))
        if not 0 <= class_index < probabilities.shape[-1]:
            raise UserError(f"class index {class_index} out of range for a {probabilities.shape[-1]}-class model")
        score = logits[:, class_index]
    gradients = tape.gradient(score, features)[0].numpy()
    features = features[0].numpy()
    weights = gradients.mean(axis=(0, 1))
    cam = np.maximum((features * weights).sum(axis=-1), 0.0)
    peak = cam.max()
    heat = (cam / peak if peak > 0 else cam).astype(np.float32)
    return GradCam(heat, int(class_index), probabilities[0].numpy(), layer.name)


def overlay(face_gray, heat, alpha=OVERLAY_ALPHA):
    """BGR image: the heat map (upsampled to the face's size, JET colormap) blended over the gray face."""
    import cv2

    height, width = face_gray.shape[:2]
    heat_big = np.clip(cv2.resize(heat, (width, height), interpolation=cv2.INTER_CUBIC), 0.0, 1.0)
    colored = cv2.applyColorMap(np.uint8(np.round(255 * heat_big)), cv2.COLORMAP_JET)
    face_bgr = cv2.cvtColor(face_gray, cv2.COLOR_GRAY2BGR)
    return cv2.addWeighted(face_bgr, 1.0 - alpha, colored, alpha, 0.0)


def render(face_gray, heat, title, size=DEFAULT_SIZE):
    """The Grad-CAM picture: [face | overlay] panels of size×size under a title band (2·size × 9·size/8)."""
    import cv2

    face = cv2.resize(face_gray, (size, size), interpolation=cv2.INTER_AREA if face_gray.shape[0] >= size
                      else cv2.INTER_CUBIC)
    band = size // 8
    canvas = np.full((size + band, 2 * size, 3), 255, np.uint8)
    canvas[band:, :size] = cv2.cvtColor(face, cv2.COLOR_GRAY2BGR)
    canvas[band:, size:] = overlay(face, heat)
    scale = band / 40.0
    (text_w, text_h), _ = cv2.getTextSize(title, cv2.FONT_HERSHEY_SIMPLEX, scale, 1)
    if text_w > 2 * size - 8:  # long titles shrink to fit the band
        scale *= (2 * size - 8) / text_w
        (text_w, text_h), _ = cv2.getTextSize(title, cv2.FONT_HERSHEY_SIMPLEX, scale, 1)
    cv2.putText(canvas, title, (4, (band + text_h) // 2), cv2.FONT_HERSHEY_SIMPLEX, scale, (0, 0, 0), 1,
                cv2.LINE_AA)
    return canvas


def title_for(result, class_names):
    """``predicted happiness 0.91`` (+ ``| heat for anger 0.03`` when another class was asked for)."""
    predicted = int(np.argmax(result.probabilities))
    text = f"predicted {class_names[predicted]} {result.probabilities[predicted]:.2f}"
    if result.class_index != predicted:
        text += f" | heat for {class_names[result.class_index]} {result.probabilities[result.class_index]:.2f}"
    return text


@dataclass
class GradCamReport:
    result: GradCam
    class_names: tuple
    face_box: tuple
    faces_found: int
    out: str
    shape: tuple  # (height, width) of the PNG


def explain_image(image_path, model="ferplus", class_name="auto", detect=True, out="heat.png",
                  size=DEFAULT_SIZE, layer=None, detector=None):
    """Grad-CAM of the float model on the (largest) face of a photo, written to ``out`` as a PNG."""
    import cv2

    from lanmsff_edge.atomic import write_bytes
    from lanmsff_edge.faces import cut, find_faces, read_image, to_gray

    keras_model, class_names = load_float_model(model)
    image = read_image(image_path)
    faces = find_faces(image, detect=detect, detector=detector)
    if not faces:
        raise UserError(f"no face found in {image_path}; if it is already a face crop, use --no-detect")
    face = max(faces, key=lambda f: f.box[2] * f.box[3])
    class_index = None
    if class_name not in (None, "auto"):
        if class_name not in class_names:
            raise UserError(f"--class {class_name}: the model's classes are {', '.join(class_names)} (or auto)")
        class_index = class_names.index(class_name)
    result = grad_cam(keras_model, face.image, class_index, layer)
    display = cut(to_gray(image), face.crop_box)
    picture = render(display, result.heat, title_for(result, class_names), size)
    ok, encoded = cv2.imencode(".png", picture)
    if not ok:
        raise UserError(f"cannot encode {out} as PNG")
    write_bytes(out, encoded.tobytes())
    return GradCamReport(result, class_names, face.box, len(faces), str(out), picture.shape[:2])


def load_float_model(model):
    """(Keras model, class names) for a bundled name, a ``.keras`` file or a run folder; ``.tflite`` is refused."""
    from lanmsff_edge.artifacts.labels import class_names
    from lanmsff_edge.artifacts.reference import resolve_model_path
    from lanmsff_edge.model import load_model
    from lanmsff_edge.runtimes import check_face_model

    path = resolve_model_path(model)
    if path.suffix == ".tflite":
        raise UserError(f"--model {path}: Grad-CAM needs gradients, so the float .keras model (the one that was "
                        "quantized), not a .tflite file")
    keras_model = load_model(path)
    check_face_model([tuple(t.shape) for t in keras_model.inputs], [tuple(t.shape) for t in keras_model.outputs],
                     path)
    return keras_model, class_names(path, int(keras_model.output_shape[-1]))
