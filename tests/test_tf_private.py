"""The private TF / tfmot / TFLite names of ``tf_private``: each still exists and still does what the code needs.

A failure here means the installed release moved one: the message names it (update ``lanmsff_edge/tf_private.py``).
"""
import numpy as np
import pytest

from lanmsff_edge import tf_private
from lanmsff_edge.keras import keras, tf


@pytest.mark.parametrize("name", sorted(tf_private.PRIVATE))
def test_every_private_name_still_resolves(name):
    module, attribute = tf_private.PRIVATE[name]
    try:
        found = tf_private.private(name)
    except tf_private.PrivateAPIMoved as error:
        pytest.fail(f"private API {name!r} moved: {error}")
    assert found is not None and (callable(found) or hasattr(found, "MovingAvgQuantize")
                                  or hasattr(found, "convert_bytearray_to_object")), (module, attribute)


def test_the_configs_and_the_input_layer_are_what_tfmot_builds_with():
    import tensorflow_model_optimization as tfmot

    public = tfmot.quantization.keras
    assert isinstance(tf_private.noop_quantize_config(), public.QuantizeConfig)
    assert isinstance(tf_private.output_quantize_config(), public.QuantizeConfig)
    assert issubclass(tf_private.quantize_layer_class(), keras.layers.Layer)
    assert set(tf_private.quantize_config_classes()) == {"NoOpQuantizeConfig", "Default8BitOutputQuantizeConfig"}


def test_a_moved_name_fails_with_a_message_naming_it(monkeypatch):
    monkeypatch.setitem(tf_private.PRIVATE, "smart_cond", ("tensorflow_model_optimization.python.nowhere", "x"))
    with pytest.raises(tf_private.PrivateAPIMoved, match=r"tensorflow_model_optimization\.python\.nowhere\.x is "
                                                         r"not where lanmsff_edge expects it.*tf_private\.py"):
        tf_private.smart_cond(True, lambda: 1, lambda: 2)


def test_the_moving_average_fake_quant_is_swapped_for_the_block_and_restored():
    """tfmot's quantizer must look ``MovingAvgQuantize`` up at call time, or calibrate_ranges observes nothing."""
    import tensorflow_model_optimization as tfmot

    quant_ops = tf_private.private("quant_ops")
    original = quant_ops.MovingAvgQuantize
    layer = keras.layers.Layer()
    quantizer = tfmot.quantization.keras.quantizers.MovingAverageQuantizer(num_bits=8, per_axis=False,
                                                                           symmetric=False, narrow_range=False)
    weights = quantizer.build(None, "probe", layer)
    calls = []

    def counting(fake_quant):
        def replacement(inputs, min_var, max_var, **options):
            calls.append(options.get("is_training"))
            return fake_quant(inputs, min_var, max_var, **options)

        return replacement

    x = tf.constant(np.linspace(-1, 1, 8, dtype=np.float32).reshape(1, 8))
    with tf_private.moving_average_quantize(counting) as kept:
        assert kept is original
        quantizer(x, False, weights=weights)
    assert calls, "tfmot no longer calls quant_ops.MovingAvgQuantize: calibrate_ranges would observe no range"
    assert quant_ops.MovingAvgQuantize is original
    with pytest.raises(RuntimeError), tf_private.moving_average_quantize(counting):
        raise RuntimeError("an error inside the block")
    assert quant_ops.MovingAvgQuantize is original


def _tiny_converter():
    model = keras.Sequential([keras.Input((4,)), keras.layers.Dense(2)])
    return tf.lite.TFLiteConverter.from_keras_model(model)


def test_the_converter_still_has_its_calibrate_only_switch():
    converter = _tiny_converter()
    tf_private.calibrate_only(converter)
    assert getattr(converter, tf_private.CALIBRATE_ONLY) is True

    class Renamed:
        pass

    with pytest.raises(tf_private.PrivateAPIMoved, match="_experimental_calibrate_only"):
        tf_private.calibrate_only(Renamed())


def test_the_interpreter_still_lists_its_ops():
    from lanmsff_edge.runtimes.litert import open_interpreter

    interpreter, backend, _, _ = open_interpreter(_tiny_converter().convert(), kernels="builtin")
    details = tf_private.ops_details(interpreter)
    assert details is not None, f"the {backend} interpreter has no _get_ops_details: bench trace cannot see delegation"
    assert {"FULLY_CONNECTED"} <= {node["op_name"] for node in details}


def test_no_library_module_but_tf_private_uses_private_api_or_mock():
    """Private names go through tf_private (so the tests above see them all); library code never patches."""
    from pathlib import Path

    root = Path(__file__).resolve().parents[1]
    forbidden = ("tensorflow_model_optimization.python", "tensorflow.python", "tensorflow.lite.python",
                 "tensorflow.lite.tools", "keras.src", "unittest.mock", "import mock", "mock.patch",
                 tf_private.CALIBRATE_ONLY, tf_private.OPS_DETAILS)
    found = []
    for folder in ("lanmsff_edge", "calibration", "firmware_export"):
        for path in sorted((root / folder).rglob("*.py")):
            if path.name == "tf_private.py":
                continue
            text = path.read_text(encoding="utf-8")
            found += [f"{path.relative_to(root)}: {name}" for name in forbidden if name in text]
    assert not found, "private TF/tfmot API or mock outside lanmsff_edge/tf_private.py: " + "; ".join(found)
