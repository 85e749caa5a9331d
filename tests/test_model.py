"""The LANMSFF graph: exact parameter counts, the custom layers against NumPy, variants, save/load identity."""
import numpy as np
import pytest

from lanmsff_edge.keras import keras, tf
from lanmsff_edge.model import block_widths, build_model, load_model, model_summary, save_model
from lanmsff_edge.model.lanmsff import massatt
from lanmsff_edge.model.layers import PWFS, ChannelMean, ChannelShuffle, ChannelSplit


@pytest.mark.parametrize("classes, params", [(7, 358_406), (8, 358_563)])
def test_parameter_count_matches_the_published_graph(classes, params):
    assert build_model(classes).count_params() == params


def test_macs_and_fusion_width():
    model = build_model(8)
    summary = model_summary(model)
    assert 295e6 < summary["macs"] < 305e6
    assert model.get_layer("fusion_concat").output_shape == (None, 156)
    assert [b["block"] for b in summary["blocks"]] == ["block1", "block2", "block3", "block4", "head"]
    assert sum(b["params"] for b in summary["blocks"]) == summary["params"]


def test_pwfs_is_mean_of_max_and_median():
    rng = np.random.default_rng(0)
    x = rng.normal(size=(2, 5, 5, 9)).astype(np.float32)
    groups = np.stack(np.split(x, 3, axis=-1))  # 3 × (2, 5, 5, 3)
    expected = (groups.max(axis=0) + np.median(groups, axis=0)) / 2
    np.testing.assert_allclose(PWFS()(x).numpy(), expected, rtol=1e-6, atol=1e-6)


def test_pwfs_rejects_channels_not_divisible_by_three():
    with pytest.raises(ValueError, match="divisible by 3"):
        PWFS()(np.zeros((1, 2, 2, 4), np.float32))


def test_channel_shuffle_interleaves_groups_and_split_halves():
    x = np.arange(6, dtype=np.float32).reshape(1, 1, 1, 6)
    shuffled = ChannelShuffle(2)(x).numpy().ravel()
    assert shuffled.tolist() == [0, 3, 1, 4, 2, 5]
    left, right = ChannelSplit(2)(x)
    assert left.numpy().ravel().tolist() == [0, 1, 2] and right.numpy().ravel().tolist() == [3, 4, 5]


def test_channel_mean():
    x = np.random.default_rng(1).normal(size=(2, 3, 3, 4)).astype(np.float32)
    np.testing.assert_allclose(ChannelMean()(x).numpy(), x.mean(axis=-1, keepdims=True), rtol=1e-6)


@pytest.mark.parametrize("form", ["code", "equation"])
def test_massatt_map_is_in_unit_interval_and_input_shaped(form):
    inputs = keras.Input((16, 16, 12))
    model = keras.Model(inputs, massatt(inputs, "att", form=form))
    x = np.random.default_rng(2).normal(size=(3, 16, 16, 12)).astype(np.float32) * 5
    attention = model(x).numpy()
    assert attention.shape == (3, 16, 16, 12)
    assert attention.min() >= 0.0 and attention.max() <= 1.0
    assert attention.std() > 0  # input-dependent, not a constant gate


def test_massatt_forms_differ_but_have_the_same_weights():
    code, equation = build_model(8, massatt_form="code"), build_model(8, massatt_form="equation")
    assert code.count_params() == equation.count_params()
    assert "block2_massatt_sigmoid" in [layer.name for layer in equation.layers]


def test_ablations_and_width_family():
    assert not any("massatt" in layer.name for layer in build_model(8, massatt=False).layers)
    no_pwfs = build_model(8, pwfs=False)
    assert not any(isinstance(layer, PWFS) for layer in no_pwfs.layers)
    assert no_pwfs.get_layer("fusion_concat").output_shape == (None, 66 + 72 + 78 + 84)
    for width in (0.25, 0.5, 0.75, 1.0, 1.5, 2.0):
        assert all(w % 6 == 0 for w in block_widths(width))
    assert block_widths(1.0) == (66, 72, 78, 84)
    small, large = build_model(8, width=0.5).count_params(), build_model(8, width=1.5).count_params()
    assert small < 358_563 < large


def test_invalid_config_is_rejected():
    with pytest.raises(ValueError):
        build_model(1)
    with pytest.raises(ValueError):
        build_model(8, width=0)
    with pytest.raises(ValueError):
        build_model(8, massatt_form="paper")
    with pytest.raises(ValueError):
        build_model(8, dropout=1.0)


def test_dropout_rate_is_the_papers_unless_given():
    def rates(model):
        return [layer.rate for layer in model.layers if isinstance(layer, keras.layers.Dropout)]

    from lanmsff_edge.model.lanmsff import DROPOUT
    from lanmsff_edge.training.config import OPTION_DEFAULTS

    assert rates(build_model(8)) == [DROPOUT] * 4 and OPTION_DEFAULTS["dropout"] == DROPOUT == 0.4
    lighter = build_model(8, width=0.5, dropout=0.1)
    assert rates(lighter) == [0.1] * 4 and lighter.count_params() == build_model(8, width=0.5).count_params()


def test_save_load_round_trip_gives_identical_outputs(tmp_path):
    model = build_model(7, width=0.5)
    x = np.random.default_rng(3).random((2, 64, 64, 1), dtype=np.float32)
    path = tmp_path / "m.keras"
    save_model(model, path)
    restored = load_model(path)
    np.testing.assert_array_equal(model(x, training=False).numpy(), restored(x, training=False).numpy())
    assert [type(layer) for layer in restored.layers] == [type(layer) for layer in model.layers]
    assert not list(tmp_path.glob(".m.*"))  # no temporary left behind


def test_model_clones():
    model = build_model(8, width=0.25)
    clone = keras.models.clone_model(model)
    assert clone.count_params() == model.count_params()


@pytest.mark.slow
def test_batch_one_export_has_only_static_micro_friendly_ops():
    model = build_model(8, width=0.25)
    concrete = tf.function(lambda x: model(x, training=False)).get_concrete_function(
        tf.TensorSpec([1, 64, 64, 1], tf.float32))
    converter = tf.lite.TFLiteConverter.from_concrete_functions([concrete], model)
    interpreter = tf.lite.Interpreter(model_content=converter.convert())
    ops = {detail["op_name"] for detail in interpreter._get_ops_details()}
    assert not ops & {"SHAPE", "REDUCE_PROD", "PACK", "GATHER", "STRIDED_SLICE", "FlexTranspose"}
    assert {"TRANSPOSE_CONV", "SPLIT", "MEAN", "TRANSPOSE"} <= ops


def test_info_command(run_cli, tmp_path):
    result = run_cli("info", "--classes", "7", "--json", tmp_path / "info.json")
    assert result.exit_code == 0, result.output
    assert "358,406" in result.output and "block4" in result.output
    result = run_cli("info", "--model", tmp_path / "missing.keras")
    assert result.exit_code == 2 and "model file not found" in result.output


def test_atomic_writes_leave_usual_permissions_and_no_temporaries(tmp_path):
    import os

    from lanmsff_edge.atomic import write_text

    target = tmp_path / "sub" / "report.json"
    write_text(target, "{}")
    mask = os.umask(0)
    os.umask(mask)
    assert target.read_text() == "{}"
    assert target.stat().st_mode & 0o777 == 0o666 & ~mask
    assert [p.name for p in target.parent.iterdir()] == ["report.json"]
