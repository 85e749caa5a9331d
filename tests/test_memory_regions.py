"""Patch regions beyond a VALID pool: strided (depthwise) convolutions, SAME pools, residual adds and channel
concatenations. Every region of small models built here, at several stripe counts, must compute the unpatched
model's integers (LiteRT reference kernels, and TFLite Micro for the chosen split)."""
import copy

import numpy as np
import pytest
from helpers import reference_outputs

from lanmsff_edge.errors import UserError
from lanmsff_edge.memory import fit, patches, schedule
from lanmsff_edge.memory import flatbuffer as fb


def _pool_rows(column, kernel, stride, pad_before, rows_out, average):
    """A 1-D pool over ``column`` as TFLite's SAME pooling computes it: padded cells are ignored."""
    out = []
    for r in range(rows_out):
        start = r * stride - pad_before
        cells = column[max(start, 0):min(start + kernel, len(column))]
        out.append(cells.mean() if average else cells.max())
    return np.array(out)


@pytest.mark.parametrize("height", [7, 8, 13, 20])
@pytest.mark.parametrize("kernel,stride", [(2, 2), (3, 2), (3, 1), (5, 2), (5, 1), (3, 3)])
def test_same_pool_stripes_read_exactly_the_cells_the_whole_map_reads(height, kernel, stride):
    """The stripe arithmetic, checked against a direct pooling: each stripe, pooled with its own SAME padding and
    cut to the kept outputs, equals the whole map's pool on its rows (max and average, so a padded cell counted
    or a real one missed both show)."""
    from lanmsff_edge.memory.flatbuffer import SAME

    rows_out = -(-height // stride)
    win = patches.Window((kernel, 1), (stride, 1), (1, 1), SAME, (1, height, 1, 1), (1, rows_out, 1, 1), pool=True)
    column = np.random.default_rng(height * 31 + kernel).normal(size=height)
    before, _ = win.pads(1)
    for average in (False, True):
        whole = _pool_rows(column, kernel, stride, before, rows_out, average)
        for count in range(1, rows_out + 1):
            for rows in patches.stripes(rows_out, count):
                lo, hi, keep, computed = win.same_pool_stripe(rows)
                assert 0 <= lo < hi <= height and computed == -(-(hi - lo) // stride)
                stripe = column[lo:hi]
                pad = max((computed - 1) * stride + kernel - len(stripe), 0) // 2
                got = _pool_rows(stripe, kernel, stride, pad, computed, average)[keep:keep + rows[1] - rows[0]]
                np.testing.assert_allclose(got, whole[rows[0]:rows[1]])


def _tiny(size, seed, tail, channels=3):
    """A small int8 CNN with a stride-2 stem, an inverted residual (ADD of the block input), a channel
    concatenation of a convolution and a dilated depthwise convolution, then ``tail`` pooling/strided layers."""
    from lanmsff_edge.keras import keras
    from lanmsff_edge.quantize.converter import convert

    layers = keras.layers
    keras.utils.set_random_seed(seed)
    x = inp = keras.Input((size, size, channels), batch_size=1)
    x = layers.Conv2D(8, 3, strides=2, padding="same", activation="relu6")(x)
    y = layers.Conv2D(16, 1, activation="relu6")(x)
    y = layers.DepthwiseConv2D(3, padding="same", activation="relu6")(y)
    x = layers.Add()([x, layers.Conv2D(8, 1)(y)])
    x = layers.Concatenate()([layers.Conv2D(4, 3, padding="same", activation="relu")(x),
                              layers.DepthwiseConv2D(3, dilation_rate=2, padding="same")(x)])
    for layer in tail():
        x = layer(x)
    x = layers.Dense(4)(layers.GlobalAveragePooling2D()(x))
    calibration = np.random.default_rng(seed).uniform(-1, 1, (6, 1, size, size, channels)).astype(np.float32)
    return convert(keras.Model(inp, x), "ptq", representative=lambda: ([c] for c in calibration))


def _max_tail():
    from lanmsff_edge.keras import keras
    layers = keras.layers
    return [layers.MaxPooling2D(3, 2, padding="same"),
            layers.DepthwiseConv2D(3, strides=2, padding="same", activation="relu6"),
            layers.Conv2D(16, 1, activation="relu6")]


def _average_tail():
    from lanmsff_edge.keras import keras
    layers = keras.layers
    return [layers.AveragePooling2D(3, 1, padding="same"),  # SAME padding before and after each row
            layers.AveragePooling2D(2, 2, padding="same"),  # on an odd map: padding after only
            layers.Conv2D(12, 3, strides=2, padding="same", activation="relu6")]


@pytest.fixture(scope="module")
def max_model():
    return _tiny(40, 0, _max_tail)


@pytest.fixture(scope="module")
def average_model():
    return _tiny(42, 1, _average_tail)




def _inputs(data, count=3):
    model = fb.load(data)
    shape = [int(v) for v in model.subgraphs[0].tensors[model.subgraphs[0].inputs[0]].shape]
    rng = np.random.default_rng(2)
    return [rng.integers(-128, 128, shape, dtype=np.int8) for _ in range(count)] + \
        [np.full(shape, v, np.int8) for v in (-128, 127)]


@pytest.mark.slow
@pytest.mark.parametrize("which", ["max_model", "average_model"])
def test_every_region_at_every_tried_count_is_bit_identical(request, which):
    data = request.getfixturevalue(which)
    model = fb.load(data)
    graph = model.subgraphs[0]
    inputs = _inputs(data)
    expected = reference_outputs(data, inputs)
    ends, checked = set(), 0
    for count in (2, 3, 5):
        for region in patches.regions(model, count):
            candidate = copy.deepcopy(model)
            patches.split_region(candidate, region, count)
            fb.drop_unused_tensors(candidate)
            np.testing.assert_array_equal(reference_outputs(fb.save(candidate), inputs), expected,
                                          err_msg=f"region ending at op {region.end}, {count} stripes")
            ends.add(fb.op_name(model, graph.operators[region.end]))
            checked += 1
    # the regions really end in strided convolutions and SAME pools, and cross the ADD and the CONCATENATION
    assert {"CONV_2D", "DEPTHWISE_CONV_2D"} <= ends and ends & {"MAX_POOL_2D", "AVERAGE_POOL_2D"}
    longest = max(patches.regions(model, 2), key=lambda r: len(r.ops))
    names = {fb.op_name(model, graph.operators[i]) for i in longest.ops}
    assert {"ADD", "CONCATENATION"} <= names and checked >= 15


@pytest.mark.slow
def test_residual_block_input_joins_the_region_with_both_readers(max_model):
    """The block input is read by the expansion convolution and by the ADD: it is inside the region (not a
    region input), computed once per stripe for the union of the rows both need."""
    model = fb.load(max_model)
    graph = model.subgraphs[0]
    add = next(i for i, op in enumerate(graph.operators) if fb.op_name(model, op) == "ADD")
    region = patches.find_region(model, add)
    readers = fb.consumers(graph)
    shared = [t for t in map(int, graph.operators[add].inputs) if len(readers[t]) == 2]
    assert shared and all(r in region.ops for r in readers[shared[0]])
    assert shared[0] not in region.inputs and region.inputs == (int(graph.inputs[0]),)


@pytest.mark.slow
def test_split_lowers_the_tflm_arena_and_tflm_computes_the_same_integers():
    from lanmsff_edge.runtimes import micro

    data = _tiny(96, 3, _max_tail)
    base, patched = fit.variant(data, 1), fit.variant(data, 4)
    assert patched.regions and patched.arena < base.arena
    assert patched.macs > base.macs  # the halos, recomputed
    before, after = micro.load(data, base.arena), micro.load(patched.data, patched.arena)
    for x in _inputs(data, 2):
        np.testing.assert_array_equal(micro.invoke(after, x)[0], micro.invoke(before, x)[0])
    inputs = _inputs(data)
    np.testing.assert_array_equal(reference_outputs(patched.data, inputs), reference_outputs(data, inputs))


@pytest.mark.slow
def test_an_unreachable_budget_names_the_floor_and_why(max_model):
    with pytest.raises(UserError, match=r"smallest reachable is [\d,]+ bytes.*TFLite Micro's own data.*"
                                        r"modelled peak is [\d,]+ B at op \d+"):
        fit.fit(max_model, 1024, counts=range(1, 3))


def test_liveness_peak_and_alive_tensors_agree():
    """alive_at lists exactly the tensors whose bytes liveness sums at that op (a hand-built chain)."""
    from ai_edge_litert import schema_py_generated as schema

    model = schema.ModelT()
    model.buffers, model.operatorCodes = [schema.BufferT()], []
    graph = schema.SubGraphT()
    model.subgraphs = [graph]
    edit = fb.Editor(model)
    like = schema.TensorT()
    like.type = schema.TensorType.INT8
    sizes = [10, 40, 20, 5]
    graph.tensors = []
    tensors = [edit.tensor(like, [1, s, 1, 1], f"t{i}") for i, s in enumerate(sizes)]
    graph.operators = [edit.operator(schema.BuiltinOperator.RELU, [tensors[i]], [tensors[i + 1]]) for i in range(3)]
    graph.inputs, graph.outputs = np.array([tensors[0]]), np.array([tensors[3]])
    live = schedule.liveness(model)
    assert live.live_bytes == (50, 60, 25) and live.peak_op == 1
    assert schedule.alive_at(model, 1) == [tensors[1], tensors[2]]


@pytest.mark.slow
def test_export_firmware_under_a_budget_ships_a_rewritten_model_that_fits(run_cli, tmp_path):
    """A budget below the unchanged model's arena: export-firmware writes the first variant that fits (offline
    plan, then patches), checks it bit-identical on the golden input, and records it in bundle.json."""
    import json

    model = tmp_path / "tiny.tflite"
    model.write_bytes(_tiny(64, 4, _max_tail, channels=1))  # export-firmware takes 64×64 grayscale models
    unchanged = fit.variant(model.read_bytes(), 1).arena
    budget = unchanged - 1024
    result = run_cli("export-firmware", "--model", model, "--out", tmp_path / "fw", "--max-arena", budget,
                     "--labels", "a,b,c,d")
    assert result.exit_code == 0, result.output
    patching = json.loads((tmp_path / "fw" / "bundle.json").read_text())["patches"]
    assert patching["planned_activation_bytes"] > 0 and patching["arena_bytes"] < unchanged
    assert patching["budget_bytes"] == budget
