"""Row-stripe (patch-based) execution of a model's large feature maps, rewritten on the ``.tflite`` flatbuffer.

TFLite Micro keeps every live tensor in its arena; LANMSFF's peak is block 1 at 64×64 (a 3×3 convolution's
input and output, 2 × 64×64×66 int8), then block 2's MassAtt products at 32×32×72. Both sit in a *region*: the
ops that lead, through row-local ops only (convolutions, pooling, element-wise ops), into a pooling op, each
intermediate map read by one op of the region. ``split(data, n)`` replaces the region holding the modelled
memory peak by ``n`` stripes of output rows, each computed from SLICEs of the input rows its receptive field
needs (the halo), one stripe after the other, joined by a CONCATENATION along the rows; then it looks for the
new peak and repeats while the peak lies in a region. Only one stripe's activations are alive at a time, so
TFLM's planner reuses that memory (MCUNetV2's patch-based inference, Lin et al. 2021, in stock TFLM ops).

Why on the flatbuffer and not in Keras: the rewrite then applies to any full-integer model as it is — the
bundled one, a user's own — and keeps its exact integers. Each stripe reuses the original weight buffers and
copies the quantization parameters of the tensor it stands for; a convolution's SAME padding becomes an
explicit PAD (it fills with the zero point, i.e. real 0, exactly what SAME contributes in the int8 kernels)
only on the sides where the stripe touches the true border of the map, and VALID padding everywhere else, so
no seam sees padding. Re-converting a Keras model per stripe count would re-run the converter, whose choices
(fusions, PTQ ranges) need not come out the same.
"""
from dataclasses import dataclass

import numpy as np
from ai_edge_litert import schema_py_generated as schema

from lanmsff_edge.errors import UserError
from lanmsff_edge.memory import flatbuffer as fb
from lanmsff_edge.memory import schedule
from lanmsff_edge.memory.flatbuffer import OP

CONVOLUTIONS = (OP.CONV_2D, OP.DEPTHWISE_CONV_2D)
POOLS = (OP.MAX_POOL_2D, OP.AVERAGE_POOL_2D)
# Element-wise ops whose output row r reads row r of each input of the same height (broadcast inputs whole).
ELEMENTWISE = (OP.MUL, OP.ADD, OP.SUB, OP.MAXIMUM, OP.MINIMUM, OP.LOGISTIC, OP.RELU, OP.RELU6, OP.TANH)
# TFLite Micro's CONCATENATION takes at most 10 inputs (kMaxInputNum in kernels/concatenation.cc).
MAX_PATCHES = 10


@dataclass(frozen=True)
class Window:
    """How an op's output rows map to its input rows (``kernel``/``stride``/``dilation`` 1 for element-wise)."""

    kernel: tuple = (1, 1)
    stride: tuple = (1, 1)
    dilation: tuple = (1, 1)
    padding: int = fb.VALID
    input_shape: tuple = ()
    output_shape: tuple = ()

    def pads(self, axis):
        """SAME padding before/after along ``axis`` (1 rows, 2 cols), as TFLite computes it."""
        if self.padding == fb.VALID:
            return 0, 0
        k, s, d = self.kernel[axis - 1], self.stride[axis - 1], self.dilation[axis - 1]
        total = max((self.output_shape[axis] - 1) * s + (k - 1) * d + 1 - self.input_shape[axis], 0)
        return total // 2, total - total // 2

    def input_rows(self, rows):
        """Input rows [lo, hi) (may reach past the border) that output rows ``rows`` read."""
        before, _ = self.pads(1)
        k, s, d = self.kernel[0], self.stride[0], self.dilation[0]
        return rows[0] * s - before, (rows[1] - 1) * s - before + (k - 1) * d + 1


@dataclass(frozen=True)
class Region:
    ops: tuple          # op indices, in file order; the last one writes ``output``
    output: int         # the tensor the region computes
    inputs: tuple       # map tensors read from outside the region (sliced per stripe)

    @property
    def end(self):
        return self.ops[-1]


def _shape(graph, tensor):
    return tuple(int(v) for v in graph.tensors[tensor].shape)


def _is_map(graph, tensor, rows):
    """A 4-D batch-1 map with ``rows`` rows (as opposed to a broadcast 1×1×C or a constant)."""
    shape = _shape(graph, tensor)
    return len(shape) == 4 and shape[0] == 1 and shape[1] == rows


def window(model, op):
    """The row arithmetic of a row-local op, or None when the op is not row-local (or not safely so)."""
    graph = model.subgraphs[0]
    builtin = fb.builtin(model, op)
    if len(op.outputs) != 1 or len(_shape(graph, op.outputs[0])) != 4:
        return None
    x, y = _shape(graph, op.inputs[0]), _shape(graph, op.outputs[0])
    options = op.builtinOptions
    if builtin in CONVOLUTIONS:
        if any(not fb.is_constant(model, graph.tensors[t]) for t in op.inputs[1:] if t >= 0):
            return None
        kernel = tuple(_shape(graph, op.inputs[1])[1:3])
        return Window(kernel, (options.strideH, options.strideW), (options.dilationHFactor, options.dilationWFactor),
                      options.padding, x, y)
    if builtin in POOLS:
        pool = Window((options.filterHeight, options.filterWidth), (options.strideH, options.strideW),
                      (1, 1), options.padding, x, y)
        # SAME pooling ignores padded cells; an explicit PAD would change the result
        return pool if pool.pads(1) == (0, 0) and pool.pads(2) == (0, 0) else None
    if builtin in ELEMENTWISE:
        maps = [t for t in op.inputs if t >= 0 and _shape(graph, t)[1:3] == y[1:3] and len(_shape(graph, t)) == 4]
        others = [_shape(graph, t) for t in op.inputs if t >= 0 and t not in maps]
        if not maps or any(len(shape) == 4 and shape[1:3] != (1, 1) for shape in others):
            return None  # only whole maps and 1×1×C (or scalar) broadcasts are row-local
        return Window(input_shape=_shape(graph, maps[0]), output_shape=y)
    return None


def find_region(model, end):
    """The region that ends at op ``end`` (a pooling op): walk back through row-local ops whose output is read
    only by the region. Returns None when ``end`` is not row-local."""
    graph = model.subgraphs[0]
    if window(model, graph.operators[end]) is None:
        return None
    readers, producers = fb.consumers(graph), {int(t): i for i, op in enumerate(graph.operators) for t in op.outputs}
    graph_outputs = {int(t) for t in graph.outputs}
    members, inputs, frontier = {end}, [], [end]
    while frontier:
        index = frontier.pop()
        op = graph.operators[index]
        rows = _shape(graph, op.outputs[0])[1]
        for tensor in map(int, op.inputs):
            if tensor < 0 or fb.is_constant(model, graph.tensors[tensor]):
                continue
            source = graph.operators[index]
            win = window(model, source)
            if not _is_map(graph, tensor, win.input_shape[1] if win else rows):
                continue  # a broadcast operand: passed whole
            producer = producers.get(tensor)
            inside = (producer is not None and tensor not in graph_outputs and readers.get(tensor) == [index]
                      and window(model, graph.operators[producer]) is not None)
            if inside:
                members.add(producer)
                frontier.append(producer)
            elif tensor not in inputs:
                inputs.append(tensor)
    ops = tuple(sorted(members))
    return Region(ops, int(graph.operators[end].outputs[0]), tuple(inputs))


def regions(model):
    """Candidate regions: one ending at each pooling op whose output has at least two rows."""
    graph = model.subgraphs[0]
    found = []
    for index, op in enumerate(graph.operators):
        if fb.builtin(model, op) in POOLS and _shape(graph, op.outputs[0])[1] >= 2:
            region = find_region(model, index)
            if region is not None:
                found.append(region)
    return found


def stripes(rows, count):
    """``count`` contiguous output-row ranges covering ``rows`` rows, as equal as possible."""
    bounds = [round(i * rows / count) for i in range(count + 1)]
    return [(bounds[i], bounds[i + 1]) for i in range(count)]


def split_region(model, region, count):
    """Replace ``region``'s ops in ``model`` (edited in place) by ``count`` row stripes and a CONCATENATION."""
    graph = model.subgraphs[0]
    edit = fb.Editor(model)
    ops = {index: graph.operators[index] for index in region.ops}
    rows_out = _shape(graph, region.output)[1]
    new_ops, pieces = [], []
    for number, rows in enumerate(stripes(rows_out, count)):
        # Backwards: the rows each op reads of each of its map inputs (``need``, may reach past the border)
        # and the rows of that input that exist (``have``).
        produce = {region.output: rows}
        need = {}
        for index in reversed(region.ops):
            op, win = ops[index], window(model, ops[index])
            for tensor in map(int, op.inputs):
                if tensor < 0 or not _is_map(graph, tensor, win.input_shape[1]) or \
                        fb.is_constant(model, graph.tensors[tensor]):
                    continue
                lo, hi = win.input_rows(produce[int(op.outputs[0])])
                clipped = (max(lo, 0), min(hi, win.input_shape[1]))
                if tensor in produce and produce[tensor] != clipped:
                    raise UserError("a region input is read with two different row ranges; not supported")
                produce[tensor] = clipped
                need[(index, tensor)] = (lo, hi)
        # Forwards: slice the region's inputs, then each op on its stripe.
        current = {}
        for tensor in region.inputs:
            lo, hi = produce[tensor]
            shape = _shape(graph, tensor)
            current[tensor] = edit.tensor(graph.tensors[tensor], [1, hi - lo, *shape[2:]], f"patch{number}/in{tensor}")
            begin = edit.int32_constant([0, lo, 0, 0], f"patch{number}/begin{tensor}")
            size = edit.int32_constant([1, hi - lo, *shape[2:]], f"patch{number}/size{tensor}")
            new_ops.append(edit.operator(OP.SLICE, [tensor, begin, size], [current[tensor]]))
        for index in region.ops:
            op, win = ops[index], window(model, ops[index])
            builtin = fb.builtin(model, op)
            inputs = [current.get(int(t), int(t)) for t in op.inputs]
            if builtin in CONVOLUTIONS + POOLS:
                source = int(op.inputs[0])
                (lo, hi), (have_lo, have_hi) = need[(index, source)], produce[source]
                top, bottom = have_lo - lo, hi - have_hi  # rows past the true border of the map
                left, right = win.pads(2)
                if top or bottom or left or right:
                    padded = edit.tensor(graph.tensors[source], [1, hi - lo, win.input_shape[2] + left + right,
                                                                 win.input_shape[3]], f"patch{number}/pad{index}")
                    paddings = edit.int32_constant([[0, 0], [top, bottom], [left, right], [0, 0]],
                                                   f"patch{number}/paddings{index}")
                    new_ops.append(edit.operator(OP.PAD, [inputs[0], paddings], [padded],
                                                 schema.BuiltinOptions.PadOptions, schema.PadOptionsT()))
                    inputs[0] = padded
            target = int(op.outputs[0])
            lo, hi = produce[target]
            output = edit.tensor(graph.tensors[target], [1, hi - lo, *_shape(graph, target)[2:]],
                                 f"patch{number}/{fb.op_name(model, op).lower()}{index}")
            options = _valid_copy(op.builtinOptions) if builtin in CONVOLUTIONS + POOLS else op.builtinOptions
            new_ops.append(edit.operator(builtin, inputs, [output], op.builtinOptionsType, options))
            current[target] = output
        pieces.append(current[region.output])
    join = schema.ConcatenationOptionsT()
    join.axis = 1
    new_ops.append(edit.operator(OP.CONCATENATION, pieces, [region.output],
                                 schema.BuiltinOptions.ConcatenationOptions, join))
    removed = set(region.ops)
    kept = [op for i, op in enumerate(graph.operators) if i not in removed]
    position = sum(1 for i in range(region.end) if i not in removed)  # where the region's last op was
    graph.operators = kept[:position] + new_ops + kept[position:]


def split(data, count, max_regions=8):
    """``data`` (an int8 .tflite's bytes) with the regions holding the memory peak run in ``count`` row stripes,
    region after region while the modelled peak lies in one, each followed by ``schedule.reorder``. ``count`` 1
    returns the model reordered only. Returns (bytes, the split regions' end-op names)."""
    if not 1 <= count <= MAX_PATCHES:
        raise UserError(f"--patches {count}: choose 1 to {MAX_PATCHES} (TFLite Micro's CONCATENATION joins at "
                        f"most {MAX_PATCHES} stripes)")
    data, _, _ = schedule.reorder(data)
    split_ends = []
    for _ in range(max_regions if count > 1 else 0):
        model = fb.load(data)
        peak = schedule.liveness(model).peak_op
        graph = model.subgraphs[0]
        here = next((r for r in regions(model) if r.ops[0] <= peak <= r.end and peak in r.ops
                     and _shape(graph, r.output)[1] >= count), None)
        if here is None:
            break
        split_ends.append(f"{fb.op_name(model, graph.operators[here.end])} → "
                          f"{'×'.join(map(str, _shape(graph, here.output)[1:]))}")
        split_region(model, here, count)
        fb.drop_unused_tensors(model)  # the full-size maps the stripes replace
        data, _, _ = schedule.reorder(fb.save(model))
    if count > 1 and not split_ends:
        raise UserError("the model's memory peak is not in a region of convolutions, pooling and element-wise ops "
                        "ending in a pooling op, so patches cannot lower it")
    return data, split_ends


def _valid_copy(options):
    """The op's options with VALID padding (padding is now explicit where the border needs it)."""
    copy = type(options)()
    for key, value in vars(options).items():
        setattr(copy, key, value)
    copy.padding = fb.VALID
    return copy
