"""Shared test helpers: the CLI runner and the location of ../shared/data (tests needing it skip without it)."""
import os
from pathlib import Path

import pytest
from click.testing import CliRunner

import lanmsff_edge  # noqa: F401  sets the TF environment (Keras 2) before any test imports TensorFlow

REPO = Path(__file__).resolve().parents[1]
SHARED_DATA = Path(os.environ.get("LANMSFF_SHARED_DATA", REPO.parent / "shared" / "data"))


def shared_archive(name):
    """Path of ../shared/data/<name>, or skip the test when the shared data is not on this machine."""
    path = SHARED_DATA / name
    if not path.exists():
        pytest.skip(f"{path} not present (shared data is only on CI and developer machines)")
    return path


@pytest.fixture
def run_cli():
    """Invoke `lanmsff-edge ARGS...` in-process; returns click's Result (exit_code, output)."""
    from lanmsff_edge.cli import cli

    def invoke(*args):
        return CliRunner().invoke(cli, [str(a) for a in args], catch_exceptions=False)

    return invoke


@pytest.fixture
def face_scene():
    """``scene(width, height, [(cx, cy, half_width), ...]) -> uint8 gray photo`` of cartoon faces (skin oval, hair,
    brows, eyes, nose, mouth; slightly blurred) that OpenCV's frontal-face Haar cascade finds at half_width ≥ 60."""
    import cv2
    import numpy as np

    def draw(canvas, cx, cy, s):
        cv2.ellipse(canvas, (cx, cy), (s, int(s * 1.3)), 0, 0, 360, 200, -1)
        cv2.ellipse(canvas, (cx, cy - s), (int(s * 1.02), s // 2), 0, 180, 360, 60, -1)
        for side in (-1, 1):
            ex, ey = cx + side * int(s * 0.4), cy - int(s * 0.25)
            cv2.ellipse(canvas, (ex, ey - int(s * 0.25)), (int(s * 0.28), int(s * 0.07)), 0, 0, 360, 50, -1)
            cv2.ellipse(canvas, (ex, ey), (int(s * 0.22), int(s * 0.11)), 0, 0, 360, 245, -1)
            cv2.circle(canvas, (ex, ey), int(s * 0.1), 30, -1)
        cv2.ellipse(canvas, (cx, cy + s // 4), (int(s * 0.12), int(s * 0.08)), 0, 0, 360, 120, -1)
        cv2.ellipse(canvas, (cx, cy + int(s * 0.6)), (int(s * 0.35), int(s * 0.12)), 0, 0, 180, 70, -1)

    def scene(width, height, faces, background=90):
        canvas = np.full((height, width), background, np.uint8)
        for face in faces:
            draw(canvas, *face)
        return cv2.GaussianBlur(canvas, (0, 0), 1.5)

    return scene


def _convert(concrete, keras_model, int8=False, representative=None, select_tf_ops=False):
    from lanmsff_edge.keras import quiet_native_stderr, tf

    converter = tf.lite.TFLiteConverter.from_concrete_functions([concrete], keras_model)
    if int8:
        converter.optimizations = [tf.lite.Optimize.DEFAULT]
        converter.representative_dataset = representative
        converter.target_spec.supported_ops = [tf.lite.OpsSet.TFLITE_BUILTINS_INT8]
        converter.inference_input_type = tf.int8
        converter.inference_output_type = tf.int8
    if select_tf_ops:
        converter.target_spec.supported_ops = [tf.lite.OpsSet.TFLITE_BUILTINS, tf.lite.OpsSet.SELECT_TF_OPS]
    with quiet_native_stderr():
        return converter.convert()


@pytest.fixture(scope="session")
def tiny_lanmsff(tmp_path_factory):
    """An untrained width-0.25 LANMSFF (8 classes) and its saved .keras path; outputs differ per input."""
    from lanmsff_edge.keras import keras
    from lanmsff_edge.model import build_model, save_model

    keras.utils.set_random_seed(1)
    model = build_model(8, width=0.25)
    path = tmp_path_factory.mktemp("tiny_lanmsff") / "tiny.keras"
    save_model(model, path)
    return model, path


@pytest.fixture(scope="session")
def int8_lanmsff(tmp_path_factory):
    """A full-integer int8 LANMSFF (8 classes, width 0.25, batch 1) as ``SimpleNamespace(path, macs)``: quick PTQ
    with synthetic faces as calibration data; the head's weights are scaled up so the untrained model's softmax is
    not flat (golden vectors need distinct scores). ``macs`` is the Keras model summary's count."""
    from types import SimpleNamespace

    import numpy as np

    from lanmsff_edge.data.common import to_model_input
    from lanmsff_edge.data.synthetic import generate
    from lanmsff_edge.keras import keras, tf
    from lanmsff_edge.model import build_model, model_summary

    keras.utils.set_random_seed(7)
    model = build_model(8, width=0.25)
    head = model.get_layer("head_softmax")
    kernel, bias = head.get_weights()
    head.set_weights([kernel * 60.0, bias])
    faces = to_model_input(generate("train", size=16, seed=3).images)
    concrete = tf.function(lambda x: model(x, training=False)).get_concrete_function(
        tf.TensorSpec([1, 64, 64, 1], tf.float32))
    data = _convert(concrete, model, int8=True,
                    representative=lambda: ([faces[i:i + 1]] for i in range(len(faces))))
    path = tmp_path_factory.mktemp("int8") / "lanmsff_w025_int8.tflite"
    path.write_bytes(data)
    return SimpleNamespace(path=path, macs=model_summary(model)["macs"], keras_model=model,
                           calibration=np.asarray(faces))


@pytest.fixture(scope="session")
def tiny_tflite(tmp_path_factory):
    """``make(kind) -> Path`` of a tiny converted model (cached per session): ``"float"`` (float32 conv net with
    CONV_2D, DEPTHWISE_CONV_2D, TRANSPOSE_CONV, FULLY_CONNECTED, BATCH_MATMUL of known sizes), ``"gelu_int8"``
    (full-integer, uses GELU, which TFLite Micro lacks), ``"flex"`` (a SELECT_TF_OPS custom op, FlexCumprod)."""
    import numpy as np

    from lanmsff_edge.keras import keras, tf

    cache = {}
    folder = tmp_path_factory.mktemp("tiny")

    def conv_net(gelu=False):
        inputs = keras.Input((8, 8, 2), batch_size=1)
        x = keras.layers.Conv2D(4, 3, padding="same", name="conv")(inputs)  # 8*8*4 * 3*3*2 = 4608 MACs
        if gelu:
            x = keras.layers.Lambda(tf.nn.gelu)(x)
        x = keras.layers.DepthwiseConv2D(3, padding="same", name="depthwise")(x)  # 8*8*4 * 9 = 2304
        x = keras.layers.MaxPooling2D(2)(x)
        x = keras.layers.Conv2DTranspose(3, 3, strides=2, padding="same", name="transpose")(x)  # 4*4*4 * 9*3 = 1728
        x = keras.layers.GlobalAveragePooling2D()(x)
        outputs = keras.layers.Dense(5, activation="softmax", name="dense")(x)  # 3*5 = 15
        return keras.Model(inputs, outputs)

    def make(kind):
        if kind in cache:
            return cache[kind]
        keras.utils.set_random_seed(1)
        if kind == "float":
            model = conv_net()

            @tf.function(input_signature=[tf.TensorSpec([1, 8, 8, 2], tf.float32),
                                          tf.TensorSpec([1, 3, 4], tf.float32)])
            def graph(image, left):
                right = tf.constant(np.linspace(-1, 1, 20, dtype=np.float32).reshape(1, 4, 5))
                return model(image), tf.linalg.matmul(left, right)  # BATCH_MATMUL: 3*5 * 4 = 60 MACs

            data = _convert(graph.get_concrete_function(), model)
        elif kind == "gelu_int8":
            model = conv_net(gelu=True)
            concrete = tf.function(lambda x: model(x)).get_concrete_function(tf.TensorSpec([1, 8, 8, 2], tf.float32))
            rng = np.random.default_rng(0)
            data = _convert(concrete, model, int8=True,
                            representative=lambda: ([rng.random((1, 8, 8, 2), dtype=np.float32)] for _ in range(4)))
        elif kind == "flex":
            @tf.function(input_signature=[tf.TensorSpec([1, 6], tf.float32)])
            def graph(x):
                return tf.math.cumprod(x, axis=1) + 1.0

            data = _convert(graph.get_concrete_function(), None, select_tf_ops=True)
        else:
            raise ValueError(kind)
        path = folder / f"{kind}.tflite"
        path.write_bytes(data)
        cache[kind] = path
        return path

    return make


# $TFLM_DIR as the run began (the modules that build with a tree read it at import, as this does). Each test runs
# without it in its environment: a command then uses a tree only when the test passes one (--tflm), so a test of
# something else (export-firmware's default rounding, say) does not build TFLM for the host behind its back.
SESSION_TFLM_DIR = os.environ.get("TFLM_DIR")


@pytest.fixture(autouse=True)
def _no_ambient_tflm_tree(monkeypatch):
    monkeypatch.delenv("TFLM_DIR", raising=False)


TFLM_EXAMPLES = {  # TFLite Micro's own example models: int8 models this project did not train, of several kinds
    "person_detect": "tensorflow/lite/micro/models/person_detect.tflite",  # MobileNetV1 0.25, 96×96×1 image
    "micro_speech": "tensorflow/lite/micro/examples/micro_speech/models/micro_speech_quantized.tflite",  # 1×1960
    "keyword_scrambled": "tensorflow/lite/micro/models/keyword_scrambled_8bit.tflite",  # int16x8, SVDF
    "hello_world": "tensorflow/lite/micro/examples/hello_world/models/hello_world_int8.tflite",  # dense 1→1
    "lstm": "tensorflow/lite/micro/examples/mnist_lstm/trained_lstm_int8.tflite",  # int8 LSTM, 1×28×28
}


@pytest.fixture(scope="session")
def tflm_examples(tmp_path_factory):
    """{name: path} of ``TFLM_EXAMPLES``, taken from the shared TFLite Micro tree (``$TFLM_DIR``, a folder or the
    .tar.gz, or ../shared/tflm/tflm-tree.tar.gz); skips when there is none."""
    import tarfile

    tree = SESSION_TFLM_DIR or str(Path(__file__).resolve().parents[2] / "shared" / "tflm" / "tflm-tree.tar.gz")
    tree = Path(tree)
    folder = tmp_path_factory.mktemp("tflm_examples")
    found = {}
    if tree.is_dir():
        for name, relative in TFLM_EXAMPLES.items():
            for candidate in (tree / relative, tree / "tflite-micro" / relative):
                if candidate.is_file():
                    found[name] = candidate
    elif tree.is_file():
        wanted = {relative: name for name, relative in TFLM_EXAMPLES.items()}
        with tarfile.open(tree) as archive:
            for member in archive:
                relative = member.name.split("tflite-micro/", 1)[-1]
                if relative in wanted and member.isfile():
                    target = folder / Path(relative).name
                    target.write_bytes(archive.extractfile(member).read())
                    found[wanted[relative]] = target
    if not found:
        pytest.skip(f"no TFLite Micro tree with its example models ({tree})")
    return found
