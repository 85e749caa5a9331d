"""One runtime protocol: Keras, LiteRT (each kernel set) and TFLite Micro all answer ``predict`` in the same units,
and ``open_runtime`` turns every kind of ``--model`` reference into one."""
import numpy as np
import pytest

from lanmsff_edge.artifacts import presets
from lanmsff_edge.errors import UserError
from lanmsff_edge.runtimes import FunctionRuntime, Runtime, check_face_model, open_runtime, predict_faces


@pytest.fixture(scope="module")
def int8_file():
    if ("ferplus", "int8") not in presets.available():
        pytest.skip("the bundled ferplus int8 model is not installed")
    return presets.model_path("ferplus", "int8")


def faces(count=3):
    return np.random.default_rng(0).integers(0, 256, size=(count, 64, 64), dtype=np.uint8)


def test_every_runtime_is_a_runtime(int8_file):
    from lanmsff_edge.runtimes.litert import LiteRTRuntime
    from lanmsff_edge.runtimes.micro import MicroRuntime

    litert = open_runtime("ferplus:int8")
    assert isinstance(litert, LiteRTRuntime) and isinstance(litert, Runtime)
    assert litert.source == str(int8_file) and litert.num_classes == 8 and litert.params is None
    micro = MicroRuntime(int8_file.read_bytes(), arena_size=1_000_000)
    assert isinstance(micro, Runtime) and micro.backend == "tflite_micro"
    reference = LiteRTRuntime(int8_file, kernels="reference")
    # TFLite Micro computes what LiteRT's reference kernels compute, in the same (dequantized) units
    np.testing.assert_array_equal(predict_faces(micro, faces()), predict_faces(reference, faces()))
    assert open_runtime(litert) is litert  # a runtime passes through


def test_keras_runtime_from_a_preset_and_from_a_model(int8_file):
    from lanmsff_edge.runtimes.keras import KerasRuntime

    runtime = open_runtime("ferplus")
    assert isinstance(runtime, KerasRuntime) and isinstance(runtime, Runtime) and runtime.backend == "keras"
    assert runtime.params == runtime.model.count_params() and runtime.num_classes == 8
    again = open_runtime(runtime.model)
    np.testing.assert_allclose(predict_faces(again, faces()), predict_faces(runtime, faces()), atol=1e-6)
    assert predict_faces(runtime, faces(0)).shape == (0, 8)


def test_function_runtime_and_the_face_check():
    uniform = FunctionRuntime(lambda x: np.full((len(x), 7), 1 / 7), 7)
    assert isinstance(uniform, Runtime) and predict_faces(uniform, faces(2)).shape == (2, 7)
    check_face_model([(None, 64, 64, 1)], [(None, 8)], "ok.keras")
    with pytest.raises(UserError, match=r"rgb.keras takes N×64×64×3 and gives N×8"):
        check_face_model([(None, 64, 64, 3)], [(None, 8)], "rgb.keras")
