"""Patch-based execution (lanmsff_edge.memory): the rewritten int8 model computes the unpatched model's integers
on every input, its TFLM arena shrinks, --max-arena picks the fewest patches that fit, and a seam bug (zero
padding where two stripes meet) is caught by the same comparison."""
import numpy as np
import pytest
from helpers import reference_outputs

from lanmsff_edge.errors import UserError
from lanmsff_edge.memory import fit, offline_plan, patches, schedule
from lanmsff_edge.memory import flatbuffer as fb
from lanmsff_edge.runtimes import micro

pytestmark = pytest.mark.slow




def _inputs(int8_lanmsff):
    from lanmsff_edge.data.synthetic import generate
    from lanmsff_edge.firmware_export.golden import quantize_input
    from lanmsff_edge.tflite_graph import read_tflite

    x = read_tflite(int8_lanmsff.path).inputs[0]
    rng = np.random.default_rng(0)
    noise = rng.integers(-128, 128, size=(3, 1, 64, 64, 1), dtype=np.int8)
    faces = [quantize_input(face, x.scale, x.zero_point).reshape(1, 64, 64, 1)
             for face in generate("val", size=3, seed=5).images]
    extremes = [np.full((1, 64, 64, 1), v, np.int8) for v in (-128, 127)]
    return [*noise, *faces, *extremes]


@pytest.fixture(scope="module")
def original(int8_lanmsff):
    return int8_lanmsff.path.read_bytes()


@pytest.mark.parametrize("count", [2, 4])
def test_patched_model_is_bit_identical_on_litert_reference_and_tflm(int8_lanmsff, original, count):
    inputs = _inputs(int8_lanmsff)
    patched = fit.variant(original, count)
    assert patched.patches == count and patched.regions  # something was split
    assert offline_plan.has_plan(patched.data)
    np.testing.assert_array_equal(reference_outputs(patched.data, inputs), reference_outputs(original, inputs))
    base, new = micro.load(original, micro.find_arena_size(original)), micro.load(patched.data, patched.arena)
    for x in inputs:
        np.testing.assert_array_equal(micro.invoke(new, x)[0], micro.invoke(base, x)[0])


def test_arena_shrinks_as_patches_grow_and_extra_macs_stay_small(original):
    arenas = {n: fit.variant(original, n) for n in (1, 2, 4)}
    assert arenas[2].arena < arenas[1].arena
    assert arenas[4].arena < arenas[2].arena
    assert 0 < (arenas[4].macs - arenas[1].macs) / arenas[1].macs < 0.15  # the halos, recomputed


def test_max_arena_picks_the_fewest_patches_that_fit(original):
    one, two = fit.variant(original, 1), fit.variant(original, 2)
    budget = fit.arena_with_margin(two.arena, fit.BUDGET_MARGIN)  # fits 2 patches, not 1
    assert budget < fit.arena_with_margin(one.arena, fit.BUDGET_MARGIN)
    chosen, tried = fit.fit(original, budget)
    assert chosen.patches == 2 and ([(v.patches, v.planned_bytes > 0) for v in tried]
                                    == [(1, False), (1, True), (2, True)])


def test_unreachable_budget_names_the_smallest_reachable_arena(original):
    with pytest.raises(UserError, match=r"smallest reachable is [\d,]+ bytes"):
        fit.fit(original, 4096, counts=range(1, 4))


def test_sizes_parse_and_nonsense_is_refused():
    assert fit.parse_size("256KB") == fit.parse_size("262144") == fit.parse_size("0.25MB") == 262144
    assert fit.parse_size("256 kib") == 262144
    for bad in ("lots", "-5KB", "12XB", "", "0", "nan"):
        with pytest.raises(UserError):
            fit.parse_size(bad)


def test_reorder_keeps_a_topological_order_and_lowers_the_modelled_peak(original):
    split, _ = patches.split(original, 4)
    model = fb.load(split)
    produced = {int(t) for t in model.subgraphs[0].inputs}
    for op in model.subgraphs[0].operators:  # every op's inputs exist before it runs
        assert all(t < 0 or int(t) in produced or fb.is_constant(model, model.subgraphs[0].tensors[t])
                   for t in op.inputs)
        produced |= {int(t) for t in op.outputs}
    reordered, before, after = schedule.reorder(original)
    assert after.peak_bytes <= before.peak_bytes


def test_offline_plan_never_overlaps_buffers_alive_together(original):
    split, _ = patches.split(original, 4)
    model = fb.load(split)
    offsets, peak, _ = offline_plan.plan(model)
    found = offline_plan.buffers(model)
    for i, a in enumerate(found):
        for b in found[i + 1:]:
            if a.first <= b.last and b.first <= a.last:
                assert (offsets[a.tensor] + a.size <= offsets[b.tensor]
                        or offsets[b.tensor] + b.size <= offsets[a.tensor])
    assert peak >= offline_plan.lower_bound(model)


def _pad_at_a_seam(data):
    """The classic patching bug, made on purpose: stripe 1 of the stem reads one halo row fewer from the input and
    pads a zero row in its place (padding where two stripes meet). Shapes stay consistent; integers do not."""
    model = fb.load(data)
    graph = model.subgraphs[0]
    readers = fb.consumers(graph)
    slices = [op for op in graph.operators
              if fb.op_name(model, op) == "SLICE" and int(op.inputs[0]) == int(graph.inputs[0])]
    victim = slices[1]
    begin = model.buffers[graph.tensors[victim.inputs[1]].buffer]
    size = model.buffers[graph.tensors[victim.inputs[2]].buffer]
    b, s = np.frombuffer(bytes(begin.data), np.int32).copy(), np.frombuffer(bytes(size.data), np.int32).copy()
    b[1] += 1
    s[1] -= 1
    begin.data = np.frombuffer(b.tobytes(), np.uint8).copy()
    size.data = np.frombuffer(s.tobytes(), np.uint8).copy()
    out = graph.tensors[victim.outputs[0]]
    out.shape = np.array([1, s[1], *out.shape[2:]], np.int32)
    pad = graph.operators[readers[int(victim.outputs[0])][0]]
    paddings = model.buffers[graph.tensors[pad.inputs[1]].buffer]
    p = np.frombuffer(bytes(paddings.data), np.int32).copy().reshape(4, 2)
    p[1, 0] += 1
    paddings.data = np.frombuffer(p.tobytes(), np.uint8).copy()
    return fb.save(model)


def test_a_seam_bug_is_caught_by_the_identity_check(int8_lanmsff, original):
    split, _ = patches.split(original, 2)
    broken = _pad_at_a_seam(split)
    inputs = _inputs(int8_lanmsff)
    assert not np.array_equal(reference_outputs(broken, inputs), reference_outputs(original, inputs))


def test_undilated_depthwise_computes_the_same_integers_with_dilation_1(int8_lanmsff, original):
    from lanmsff_edge.memory import dilation

    rewritten, count = dilation.undilate(original)
    assert count == 2  # LANMSFF's two dilation-2 depthwise convolutions (blocks 2 and 4)
    model = fb.load(rewritten)
    depthwise = [op for op in model.subgraphs[0].operators if fb.op_name(model, op) == "DEPTHWISE_CONV_2D"]
    assert all(op.builtinOptions.dilationHFactor == 1 for op in depthwise)
    inputs = _inputs(int8_lanmsff)
    np.testing.assert_array_equal(reference_outputs(rewritten, inputs), reference_outputs(original, inputs))
    base, new = micro.load(original, micro.find_arena_size(original)), micro.load(rewritten, 1 << 20)
    for x in inputs:
        np.testing.assert_array_equal(micro.invoke(new, x)[0], micro.invoke(base, x)[0])
