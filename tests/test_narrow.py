"""model.narrow: a narrower LANMSFF from a wider one's most important channels (train --init at a smaller width)."""
import numpy as np
import pytest

from lanmsff_edge.errors import UserError
from lanmsff_edge.model import build_model
from lanmsff_edge.model.narrow import BLOCK_KINDS, block_widths_of, narrow_weights, output_layer


def _randomised(model, seed):
    """Random BN statistics and scales too, so the importance ranking is no accident of initialisation."""
    rng = np.random.default_rng(seed)
    for layer in model.layers:
        weights = layer.get_weights()
        if weights:
            layer.set_weights([rng.normal(0, 0.3, w.shape).astype(w.dtype) if "moving_variance" not in v.name
                               else rng.uniform(0.5, 2, w.shape).astype(w.dtype)
                               for w, v in zip(weights, layer.weights)])
    return model


@pytest.fixture(scope="module")
def wide():
    return _randomised(build_model(8, width=0.5), seed=1)


def test_narrowing_to_the_same_width_permutes_every_channel_and_keeps_the_function(wide):
    same = build_model(8, width=0.5)
    selection = narrow_weights(wide, same)
    # channels are kept best first, so this is a real permutation of every block's channels, not a copy
    assert len(selection) == 24  # every convolution: 3 per type-A block, 9 per type-B block
    for layer, kept in selection.items():
        assert sorted(kept) == list(range(len(kept))), layer
    for block, kind in BLOCK_KINDS:
        kept = selection[output_layer(block, kind)]
        assert list(kept) != sorted(kept), block
    images = np.random.default_rng(0).random((4, 64, 64, 1)).astype("float32")
    np.testing.assert_allclose(same(images, training=False), wide(images, training=False), atol=2e-5)


def test_a_narrower_model_keeps_tied_channels_tied_and_takes_sub_tensors(wide):
    narrow = build_model(8, width=0.25)
    selection = narrow_weights(wide, narrow)
    assert block_widths_of(narrow) == (18, 18, 18, 24) and block_widths_of(wide) == (36, 36, 36, 42)
    for name, wide_count in (("block1_c3_conv", 36), ("block2_c1x1_conv", 36), ("block3_c3_conv", 36)):
        kept, third = selection[name], len(selection[name]) // 3  # PWFS triplets: t, t+C/3, t+2C/3
        for group in range(3):
            np.testing.assert_array_equal(kept[group * third:(group + 1) * third],
                                          group * (wide_count // 3) + kept[:third])
    for name, consumer_width in (("block1_c3_conv", 36), ("block3_c3_conv", 36)):  # each keeps its shuffle half
        kept, narrow_count = selection[name], len(selection[name])
        for channel, wide_channel in enumerate(kept):
            narrow_left = 2 * (channel % (narrow_count // 2)) + channel // (narrow_count // 2) < narrow_count // 2
            half = consumer_width // 2
            wide_left = 2 * (wide_channel % half) + wide_channel // half < half
            assert narrow_left == wide_left, (name, channel)
    # the first block's first convolution: the kept filters, whole
    kernel = wide.get_layer("block1_c1_conv").get_weights()[0]
    narrow_kernel = narrow.get_layer("block1_c1_conv").get_weights()[0]
    for column in range(narrow_kernel.shape[-1]):
        assert any(np.array_equal(narrow_kernel[..., column], kernel[..., c]) for c in range(kernel.shape[-1]))
    # the block-4 output feeds the head directly: its rows are the wide head's rows of the kept channels
    head, narrow_head = (wide.get_layer("head_softmax").get_weights()[0],
                         narrow.get_layer("head_softmax").get_weights()[0])
    np.testing.assert_array_equal(narrow_head[-24:], head[-42:][selection["block4_c1x1_conv"]])


def _silenced(model, selection):
    """``model`` with every channel the selection drops made zero (BN γ = β = 0; MassAtt's hidden units: their
    weights), so it computes what its narrowed copy computes."""
    for layer, kept in selection.items():
        dropped = np.setdiff1d(np.arange(model.get_layer(layer).get_weights()[0].shape[-1]), kept)
        bn = layer.rsplit("_", 1)[0] + "_bn"
        target = bn if bn in {existing.name for existing in model.layers} else layer
        if target.endswith("_fc2") or target == "head_softmax":
            continue  # fc2 follows the features' channels; the head's outputs are the classes
        weights = model.get_layer(target).get_weights()
        if target == bn:
            weights[0][dropped], weights[1][dropped] = 0, 0  # γ, β
        else:
            weights[0][..., dropped], weights[1][dropped] = 0, 0  # kernel columns, bias
        model.get_layer(target).set_weights(weights)
    return model


@pytest.mark.parametrize("options", [{}, {"massatt": False}, {"pwfs": False}, {"massatt_form": "equation"}])
def test_a_narrowed_model_computes_what_the_wide_one_does_with_the_dropped_channels_silenced(options):
    wide = _randomised(build_model(8, width=0.5, **options), seed=2)
    narrow = build_model(8, width=0.25, **options)
    selection = narrow_weights(wide, narrow)
    silenced = _silenced(wide, selection)
    again = build_model(8, width=0.25, **options)
    assert all(np.array_equal(a, b) for a, b in zip(narrow_weights(silenced, again).values(), selection.values()))
    images = np.random.default_rng(3).random((4, 64, 64, 1)).astype("float32")
    np.testing.assert_allclose(narrow(images, training=False), silenced(images, training=False), atol=2e-6)


def test_the_most_important_channels_are_kept(wide):
    model = build_model(8, width=0.5)
    model.set_weights(wide.get_weights())
    kernel, bias = model.get_layer("block1_c1_conv").get_weights()
    kernel[..., 7] *= 50  # one filter made far larger than the rest
    model.get_layer("block1_c1_conv").set_weights([kernel, bias])
    narrow = build_model(8, width=0.25)
    narrow_weights(model, narrow)
    np.testing.assert_array_equal(narrow.get_layer("block1_c1_conv").get_weights()[0][..., 0], kernel[..., 7])


def test_a_wider_target_or_a_foreign_model_is_refused(wide):
    with pytest.raises(UserError, match="wider"):
        narrow_weights(build_model(8, width=0.25), build_model(8, width=0.5))
    from lanmsff_edge.keras import keras

    plain = keras.Sequential([keras.Input((64, 64, 1)), keras.layers.Conv2D(2, 3)])
    with pytest.raises(UserError, match="not a LANMSFF model"):
        narrow_weights(plain, build_model(8, width=0.25))
    with pytest.raises(UserError, match="another architecture"):
        narrow_weights(wide, build_model(8, width=0.25, massatt=False))


def test_init_from_a_wider_model_narrows_it_and_another_class_count_gets_a_fresh_head(wide):
    from lanmsff_edge.training.warm_start import load_initial_weights

    target = build_model(8, width=0.25)
    load_initial_weights(target, wide, "wide")
    expected = build_model(8, width=0.25)
    narrow_weights(wide, expected)
    for got, want in zip(target.get_weights(), expected.get_weights()):
        np.testing.assert_array_equal(got, want)
    seven = build_model(7, width=0.25)
    fresh_head = seven.get_layer("head_softmax").get_weights()
    load_initial_weights(seven, wide, "wide")
    for got, want in zip(seven.get_layer("head_softmax").get_weights(), fresh_head):
        np.testing.assert_array_equal(got, want)
    np.testing.assert_array_equal(seven.get_layer("block1_c1_conv").get_weights()[0],
                                  expected.get_layer("block1_c1_conv").get_weights()[0])
