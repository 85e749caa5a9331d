"""The golden self-test face: a drawn face, preprocessed exactly as the firmware's ``<name>Preprocess`` does it."""
import numpy as np

from lanmsff_edge.data.common import IMAGE_SIZE, to_model_input


def golden_face():
    """``(uint8 64×64 image, description)``: a 'happiness' face of the synthetic data set's test split when that
    module is available, else a smiling face drawn here with OpenCV. Deterministic either way. The self-test's
    expected answer is the model's own output on it, whichever class that is (a model trained on real faces may
    call this synthetic face neutral): it checks the build bit for bit, not the model's accuracy."""
    try:
        from lanmsff_edge.data.synthetic import generate
    except ImportError:
        return drawn_face(), "a smiling face drawn with OpenCV (ellipse head, eyes, brows, smile)"
    faces = generate("test", size=8, seed=0)
    index = int(list(faces.class_names).index("happiness")) if "happiness" in faces.class_names else 0
    position = int(np.flatnonzero(faces.labels == index)[0]) if np.any(faces.labels == index) else 0
    image = np.clip(np.round(np.asarray(faces.images[position], dtype=np.float32)), 0, 255).astype(np.uint8)
    label = faces.class_names[int(faces.labels[position])]
    return image, (f"synthetic test face #{position} of lanmsff_edge.data.synthetic.generate('test', size=8, "
                   f"seed=0), generated for the class '{label}'")


def drawn_face(size=IMAGE_SIZE):
    """A frontal smiling face on a dark background with a soft light gradient (uint8, size×size)."""
    import cv2

    canvas = 4 * size  # draw large, shrink with area averaging for anti-aliased edges
    image = np.full((canvas, canvas), 40, np.uint8)
    centre = (canvas // 2, canvas // 2 + canvas // 32)
    cv2.ellipse(image, centre, (int(canvas * 0.34), int(canvas * 0.44)), 0, 0, 360, 185, -1)
    for side in (-1, 1):
        eye = (centre[0] + side * int(canvas * 0.14), centre[1] - int(canvas * 0.1))
        cv2.ellipse(image, eye, (int(canvas * 0.06), int(canvas * 0.03)), 0, 0, 360, 60, -1)
        brow = (eye[0], eye[1] - int(canvas * 0.07))
        cv2.ellipse(image, brow, (int(canvas * 0.07), int(canvas * 0.02)), 0, 180, 360, 90, int(canvas * 0.012))
    nose = np.array([[centre[0], centre[1] - int(canvas * 0.04)], [centre[0] - int(canvas * 0.035),
                     centre[1] + int(canvas * 0.08)], [centre[0] + int(canvas * 0.035),
                     centre[1] + int(canvas * 0.08)]])
    cv2.polylines(image, [nose.astype(np.int32)], False, 140, int(canvas * 0.01))
    mouth = (centre[0], centre[1] + int(canvas * 0.16))
    cv2.ellipse(image, mouth, (int(canvas * 0.14), int(canvas * 0.07)), 0, 10, 170, 70, int(canvas * 0.02))
    gradient = np.linspace(0.85, 1.1, canvas, dtype=np.float32)[None, :]
    image = np.clip(image.astype(np.float32) * gradient, 0, 255).astype(np.uint8)
    return cv2.resize(image, (size, size), interpolation=cv2.INTER_AREA)


def quantize_input(image, scale, zero_point):
    """uint8 H×W face → int8 H×W model input: ``to_model_input`` (per-image min-max to [0, 1], float32), then
    ``runtimes.quantization.quantize`` (``zero_point + floor(x / scale + 0.5)`` in float32, clamped): the input
    quantizer of every host runtime and the same operations, in the same order and precision, as the generated C
    ``<Name>Preprocess``, so the two agree bit for bit (tests/test_firmware_build.py compiles the C to check)."""
    from lanmsff_edge.runtimes.quantization import quantize

    x = to_model_input(np.asarray(image, np.uint8)[None])[0, ..., 0]  # float32 in [0, 1]
    return quantize(x, scale, zero_point, np.int8)
