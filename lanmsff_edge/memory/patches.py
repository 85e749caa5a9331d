"""Row-stripe (patch-based) execution of a model's large feature maps, rewritten on the ``.tflite`` flatbuffer.

TFLite Micro keeps every live tensor in its arena; a CNN's peak is usually two large maps of its first stages
(LANMSFF: block 1 at 64×64, 2 × 64×64×66 int8; MobileNets: the first inverted residuals). Those maps sit in a
*region*: ops that are row-local — convolutions and depthwise convolutions (any kernel, stride, dilation,
padding), pooling (VALID or SAME), element-wise ops and channel concatenations — leading into one op whose
output is the only tensor of the region read outside it. A tensor may be read by several ops of the region
(a residual ADD reads the block input beside the first convolution): the stripe then computes the union of the
rows its readers need, and each reader slices its own rows. ``split(data, n)`` replaces the region holding the
modelled memory peak by ``n`` stripes of output rows, each computed from SLICEs of the input rows its receptive
field needs (the halo, per op), one stripe after the other, joined by a CONCATENATION along the rows; then it
looks for the new peak and repeats while splitting lowers the modelled arena (activations plus what TFLM keeps
per op and tensor, which each stripe adds to). Only one stripe's activations are alive at a
time, so TFLM's planner reuses that memory (MCUNetV2's patch-based inference, Lin et al. 2021, in stock TFLM ops).

Why on the flatbuffer and not in Keras: the rewrite then applies to any full-integer model as it is — the
bundled one, a user's own — and keeps its exact integers. Each stripe reuses the original weight buffers and
copies the quantization parameters of the tensor it stands for. Padding, so that no seam ever sees any:
- a convolution's SAME padding becomes an explicit PAD (it fills with the zero point, i.e. real 0, exactly what
  SAME contributes in the int8 kernels) only on the sides where the stripe touches the true border of the map,
  VALID everywhere else;
- a SAME pool ignores padded cells (an average divides by the cells inside the map), so a PAD would change it.
  Its stripe keeps the pool's own SAME padding on input rows chosen so that TFLite's SAME arithmetic on the
  stripe puts padding only where the map has none (the border), and a SLICE drops the stripe's extra outputs.
Re-converting a Keras model per stripe count would re-run the converter, whose choices (fusions, PTQ ranges)
need not come out the same.
"""
import copy
from dataclasses import dataclass

from ai_edge_litert import schema_py_generated as schema

from lanmsff_edge.errors import UserError
from lanmsff_edge.memory import flatbuffer as fb
from lanmsff_edge.memory import schedule
from lanmsff_edge.memory.flatbuffer import OP

CONVOLUTIONS = (OP.CONV_2D, OP.DEPTHWISE_CONV_2D)
POOLS = (OP.MAX_POOL_2D, OP.AVERAGE_POOL_2D)
# Element-wise ops whose output row r reads row r of each input of the same height (broadcast inputs whole).
ELEMENTWISE = (OP.MUL, OP.ADD, OP.SUB, OP.MAXIMUM, OP.MINIMUM, OP.LOGISTIC, OP.RELU, OP.RELU6, OP.TANH,
               OP.HARD_SWISH, OP.LEAKY_RELU, OP.QUANTIZE, OP.DEQUANTIZE)
# TFLite Micro's CONCATENATION takes at most 10 inputs (kMaxInputNum in kernels/concatenation.cc).
MAX_PATCHES = 10
FINALISTS = 3  # regions compared after reordering, of those ranked by their modelled peak before it


class Unsplittable(Exception):
    """A region cannot be cut into this many stripes (e.g. a SAME pool whose arithmetic no stripe matches)."""


@dataclass(frozen=True)
class Window:
    """How an op's output rows map to its input rows (``kernel``/``stride``/``dilation`` 1 for element-wise)."""

    kernel: tuple = (1, 1)
    stride: tuple = (1, 1)
    dilation: tuple = (1, 1)
    padding: int = fb.VALID
    input_shape: tuple = ()
    output_shape: tuple = ()
    pool: bool = False

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

    def same_pool_stripe(self, rows):
        """For a SAME pool: input rows [lo, hi) inside the map, and the first of the stripe's outputs to keep,
        such that the pool with its own SAME padding on those rows computes output rows ``rows`` from exactly the
        cells the whole-map pool reads (its padding falls only outside the map). None when no such rows exist."""
        height, k, s = self.input_shape[1], self.kernel[0], self.stride[0]
        before, _ = self.pads(1)
        first, last = rows[0] * s - before, (rows[1] - 1) * s - before  # window starts of the wanted outputs
        need_lo, need_hi = max(first, 0), min(last + k, height)
        for extra in range(2 * (k + s)):
            for extra_lo in range(extra + 1):
                lo, hi = need_lo - extra_lo, need_hi + extra - extra_lo
                if lo < 0 or hi > height:
                    continue
                out = -(-(hi - lo) // s)
                pad = max((out - 1) * s + k - (hi - lo), 0) // 2
                shift = first - (lo - pad)
                if shift % s == 0 and 0 <= shift // s and shift // s + rows[1] - rows[0] <= out:
                    return lo, hi, shift // s, out
        return None


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


def window(model, op):
    """The row arithmetic of a row-local op, or None when the op is not row-local (or not safely so)."""
    graph = model.subgraphs[0]
    builtin = fb.builtin(model, op)
    if len(op.outputs) != 1 or len(_shape(graph, op.outputs[0])) != 4 or _shape(graph, op.outputs[0])[0] != 1:
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
        return Window((options.filterHeight, options.filterWidth), (options.strideH, options.strideW),
                      (1, 1), options.padding, x, y, pool=True)
    maps = [t for t in op.inputs if t >= 0 and len(_shape(graph, t)) == 4 and _shape(graph, t)[:3] == y[:3]]
    if builtin == OP.CONCATENATION:
        if options.axis not in (3, -1) or len(maps) != len(op.inputs):
            return None  # a concatenation along the rows or columns is not row-local
        return Window(input_shape=_shape(graph, maps[0]), output_shape=y)
    if builtin in ELEMENTWISE:
        others = [_shape(graph, t) for t in op.inputs if t >= 0 and t not in maps]
        if not maps or any(len(shape) == 4 and shape[1:3] != (1, 1) for shape in others):
            return None  # only whole maps and 1×1×C (or scalar) broadcasts are row-local
        return Window(input_shape=_shape(graph, maps[0]), output_shape=y)
    return None


def _map_inputs(model, op, win):
    """The op's inputs that are maps split along with it (not constants, not 1×1×C broadcasts)."""
    graph = model.subgraphs[0]
    found = []
    for tensor in map(int, op.inputs):
        if tensor < 0 or fb.is_constant(model, graph.tensors[tensor]):
            continue
        shape = _shape(graph, tensor)
        if len(shape) == 4 and shape[0] == 1 and shape[1] == win.input_shape[1] and shape[1] > 1 \
                and tensor not in found:
            found.append(tensor)
        if fb.builtin(model, op) in CONVOLUTIONS + POOLS:
            break  # only the data input of a convolution or pool
    return found


def find_region(model, end, first=0):
    """The largest region that ends at op ``end`` and starts at op ``first`` or later: walk back through
    row-local ops whose output only the region reads (to a fixed point, so that a tensor read by two ops of the
    region joins once both are in). Returns None when ``end`` is not row-local."""
    graph = model.subgraphs[0]
    if window(model, graph.operators[end]) is None:
        return None
    readers, producers = fb.consumers(graph), {int(t): i for i, op in enumerate(graph.operators) for t in op.outputs}
    graph_outputs = {int(t) for t in graph.outputs}
    windows = {end: window(model, graph.operators[end])}
    changed = True
    while changed:
        changed = False
        for index in sorted(windows, reverse=True):
            for tensor in _map_inputs(model, graph.operators[index], windows[index]):
                producer = producers.get(tensor)
                if producer is None or producer < first or producer in windows or tensor in graph_outputs:
                    continue
                if not all(reader in windows for reader in readers.get(tensor, [])):
                    continue
                win = window(model, graph.operators[producer])
                if win is not None:
                    windows[producer] = win
                    changed = True
    ops = tuple(sorted(windows))
    inputs = []
    for index in ops:
        for tensor in _map_inputs(model, graph.operators[index], windows[index]):
            if producers.get(tensor) not in windows and tensor not in inputs:
                inputs.append(tensor)
    return Region(ops, int(graph.operators[end].outputs[0]), tuple(inputs))


def regions(model, count=2, around=None, starts=3):
    """Candidate regions: the largest one ending at each row-local op whose output has at least ``count`` rows;
    with ``around`` (an op index), only those holding that op, each also cut to start at one of the ``starts``
    last ops before ``around`` (a region that starts later keeps a smaller map alive as its input: MobileNetV1's
    peak follows its stem, and a region from the model input keeps the whole image alive through every stripe)."""
    graph = model.subgraphs[0]
    found = []
    for index, op in enumerate(graph.operators):
        if window(model, op) is None or _shape(graph, op.outputs[0])[1] < max(count, 2) or \
                (around is not None and index < around):
            continue
        region = find_region(model, index)
        if region is None or len(region.ops) < 2 or (around is not None and around not in region.ops):
            continue
        found.append(region)
        if around is not None:
            for first in [i for i in region.ops if i <= around][-starts:]:
                cut = find_region(model, index, first)
                if cut.ops != region.ops and around in cut.ops and len(cut.ops) > 1 and cut not in found:
                    found.append(cut)
    return found


def stripes(rows, count):
    """``count`` contiguous output-row ranges covering ``rows`` rows, as equal as possible."""
    bounds = [round(i * rows / count) for i in range(count + 1)]
    return [(bounds[i], bounds[i + 1]) for i in range(count)]


def _stripe_rows(model, region, rows):
    """Backwards through the region for one stripe: the real rows [lo, hi) of each tensor the stripe needs (the
    union over the ops that read it), the rows each op reads of each map input (may reach past the border), and
    each SAME pool's stripe arithmetic."""
    graph = model.subgraphs[0]
    produce, reads, pools = {region.output: rows}, {}, {}
    for index in reversed(region.ops):
        op = graph.operators[index]
        win = window(model, op)
        out_rows = produce[int(op.outputs[0])]
        for tensor in _map_inputs(model, op, win):
            if win.pool and win.padding == fb.SAME:
                found = win.same_pool_stripe(out_rows)
                if found is None:
                    raise Unsplittable(f"no stripe rows match the SAME arithmetic of {fb.op_name(model, op)}")
                lo, hi, _, _ = pools[index] = found
            else:
                lo, hi = win.input_rows(out_rows) if win.pool or fb.builtin(model, op) in CONVOLUTIONS else out_rows
            reads[(index, tensor)] = (lo, hi)
            clipped = (max(lo, 0), min(hi, win.input_shape[1]))
            if tensor in produce:
                clipped = (min(clipped[0], produce[tensor][0]), max(clipped[1], produce[tensor][1]))
            produce[tensor] = clipped
    return produce, reads, pools


def split_region(model, region, count):
    """Replace ``region``'s ops in ``model`` (edited in place) by ``count`` row stripes and a CONCATENATION."""
    graph = model.subgraphs[0]
    edit = fb.Editor(model)
    rows_out = _shape(graph, region.output)[1]
    new_ops, pieces = [], []

    def add_slice(source, shape, lo, hi, name):
        out = edit.tensor(graph.tensors[source], [1, hi - lo, *shape[2:]], name)
        begin = edit.int32_constant([0, lo, 0, 0], f"{name}/begin")
        size = edit.int32_constant([1, hi - lo, *shape[2:]], f"{name}/size")
        new_ops.append(edit.operator(OP.SLICE, [source, begin, size], [out]))
        return out

    for number, rows in enumerate(stripes(rows_out, count)):
        produce, reads, pools = _stripe_rows(model, region, rows)
        # Forwards: each op on its stripe, each map input sliced to the rows this op reads of it.
        current = {tensor: (tensor, (0, _shape(graph, tensor)[1])) for tensor in region.inputs}
        slices = {}

        def rows_of(tensor, lo, hi):
            source, (have_lo, have_hi) = current[tensor]  # noqa: B023
            if (have_lo, have_hi) == (lo, hi):
                return source
            if (tensor, lo, hi) not in slices:  # noqa: B023
                shape = _shape(graph, tensor)
                slices[(tensor, lo, hi)] = add_slice(source, shape, lo - have_lo, hi - have_lo,  # noqa: B023
                                                     f"patch{number}/rows{lo}-{hi}/t{tensor}")  # noqa: B023
            return slices[(tensor, lo, hi)]  # noqa: B023

        for index in region.ops:
            op = graph.operators[index]
            win, builtin = window(model, op), fb.builtin(model, op)
            inputs = [int(t) for t in op.inputs]
            height = win.input_shape[1]
            for position, tensor in enumerate(inputs):
                if (index, tensor) not in reads:
                    continue
                lo, hi = reads[(index, tensor)]
                inputs[position] = rows_of(tensor, max(lo, 0), min(hi, height))
            options = op.builtinOptions
            if builtin in CONVOLUTIONS or (win.pool and win.padding == fb.VALID):
                lo, hi = reads[(index, int(op.inputs[0]))]
                top, bottom = max(-lo, 0), max(hi - height, 0)  # rows past the true border of the map
                left, right = win.pads(2)
                if top or bottom or left or right:
                    source = int(op.inputs[0])
                    padded = edit.tensor(graph.tensors[source], [1, hi - lo, win.input_shape[2] + left + right,
                                                                 win.input_shape[3]], f"patch{number}/pad{index}")
                    paddings = edit.int32_constant([[0, 0], [top, bottom], [left, right], [0, 0]],
                                                   f"patch{number}/paddings{index}")
                    new_ops.append(edit.operator(OP.PAD, [inputs[0], paddings], [padded],
                                                 schema.BuiltinOptions.PadOptions, schema.PadOptionsT()))
                    inputs[0] = padded
                options = _valid_copy(options)
            target = int(op.outputs[0])
            lo, hi = produce[target]
            shape = _shape(graph, target)
            name = f"patch{number}/{fb.op_name(model, op).lower()}{index}"
            if index in pools:  # a SAME pool: its own padding on the chosen rows, then keep the wanted outputs
                _, _, keep, computed = pools[index]
                full = edit.tensor(graph.tensors[target], [1, computed, *shape[2:]], name + "/same")
                new_ops.append(edit.operator(builtin, inputs, [full], op.builtinOptionsType, options))
                output = full if (keep, computed) == (0, hi - lo) else \
                    add_slice(full, (1, computed, *shape[2:]), keep, keep + hi - lo, name)
            else:
                output = edit.tensor(graph.tensors[target], [1, hi - lo, *shape[2:]], name)
                new_ops.append(edit.operator(builtin, inputs, [output], op.builtinOptionsType, options))
            current[target] = (output, (lo, hi))
        pieces.append(current[region.output][0])
    join = schema.ConcatenationOptionsT()
    join.axis = 1
    new_ops.append(edit.operator(OP.CONCATENATION, pieces, [region.output],
                                 schema.BuiltinOptions.ConcatenationOptions, join))
    removed = set(region.ops)
    kept = [op for i, op in enumerate(graph.operators) if i not in removed]
    position = sum(1 for i in range(region.end) if i not in removed)  # where the region's last op was
    graph.operators = kept[:position] + new_ops + kept[position:]


def _split_candidate(model, region, count):
    """A copy of ``model`` with ``region`` split (not yet reordered), or None when it cannot be."""
    candidate = copy.deepcopy(model)
    try:
        split_region(candidate, region, count)
    except Unsplittable:
        return None
    fb.drop_unused_tensors(candidate)  # the full-size maps the stripes replace
    return candidate


def split(data, count, max_regions=8):
    """``data`` (an int8 .tflite's bytes) with the regions holding the memory peak run in ``count`` row stripes,
    region after region while splitting one lowers the modelled arena (peak activations plus
    ``schedule.tflm_overhead``, which grows with every stripe op), each followed by ``schedule.reorder``. Of the
    regions around the peak, the one giving the lowest modelled arena wins (fewest MACs on a tie). ``count`` 1
    returns the model reordered only. Returns (bytes, the split regions' end-op names)."""
    if not 1 <= count <= MAX_PATCHES:
        raise UserError(f"--patches {count}: choose 1 to {MAX_PATCHES} (TFLite Micro's CONCATENATION joins at "
                        f"most {MAX_PATCHES} stripes)")
    data, _, _ = schedule.reorder(data)
    split_ends = []
    for _ in range(max_regions if count > 1 else 0):
        model = fb.load(data)
        now = schedule.liveness(model)
        graph = model.subgraphs[0]
        cost_now = now.peak_bytes + schedule.tflm_overhead(model)
        ranked = []
        for region in regions(model, count, around=now.peak_op):
            candidate = _split_candidate(model, region, count)
            if candidate is not None:
                cost = schedule.liveness(candidate).peak_bytes + schedule.tflm_overhead(candidate)
                ranked.append((cost, _convolution_macs(candidate), region.end, region, candidate))
        # the few best before reordering, compared after it (reordering is the slow part)
        finalists = []
        for _, macs, end, region, candidate in sorted(ranked, key=lambda entry: entry[:3])[:FINALISTS]:
            rewritten, _, after = schedule.reorder(fb.save(candidate))
            finalists.append((after.peak_bytes + schedule.tflm_overhead(candidate), macs, end, region, rewritten))
        best = min(finalists, key=lambda entry: entry[:3], default=None)
        if best is None or best[0] >= cost_now:
            break
        _, _, _, region, data = best
        split_ends.append(f"{fb.op_name(model, graph.operators[region.end])} → "
                          f"{'×'.join(map(str, _shape(graph, region.output)[1:]))}")
    if count > 1 and not split_ends:
        raise UserError("patches cannot lower this model's memory peak: " + floor(fb.load(data)))
    return data, split_ends


def floor(model):
    """Why the modelled peak of ``model`` stays where it is: the op, the tensors alive there, and what keeps them
    (the model's input or output itself, or an op that is not row-local and so cannot be striped)."""
    graph = model.subgraphs[0]
    live = schedule.liveness(model)
    op = graph.operators[live.peak_op]
    alive = schedule.alive_at(model, live.peak_op)
    named = ", ".join(f"{graph.tensors[t].name.decode(errors='replace') if graph.tensors[t].name else t} "
                      f"{'×'.join(map(str, _shape(graph, t)[1:]))} ({fb.tensor_bytes(graph.tensors[t]):,} B)"
                      for t in alive[:4])
    reasons = []
    inputs, outputs = {int(t) for t in graph.inputs}, {int(t) for t in graph.outputs}
    if inputs & set(alive):
        reasons.append("the model's input tensor is alive there and is never split (it arrives whole)")
    if outputs & set(alive):
        reasons.append("the model's output is alive there")
    if any(graph.tensors[t].name and graph.tensors[t].name.startswith(b"patch") for t in op.outputs):
        reasons.append("it lies inside a stripe: the stripe's maps with their halos, beside the region's input "
                       "and the stripes already computed, are what remains; more stripes shrink only the first")
    elif window(model, op) is None:
        reasons.append(f"{fb.op_name(model, op)} is not row-local (a global, reshaping or cross-row op), so it "
                       "cannot be striped and its inputs and outputs are materialised whole")
    elif not reasons:
        reasons.append("no split of the region around it lowers the activations by more than the TFLM data its "
                       "stripe ops add (halos, the maps entering and leaving the region, ~120 B per op and 8 B per "
                       "channel of each convolution copy)")
    return (f"the modelled peak is {live.peak_bytes:,} B at op {live.peak_op} ({fb.op_name(model, op)}), where "
            f"{named} are alive; " + "; ".join(reasons))


def _convolution_macs(model):
    """Multiply-accumulates of the convolutions of ``model`` (what the halos recompute), to rank regions."""
    graph, total = model.subgraphs[0], 0
    for op in graph.operators:
        if fb.builtin(model, op) in CONVOLUTIONS:
            kernel = _shape(graph, op.inputs[1])
            per_output = kernel[1] * kernel[2] * (kernel[3] if fb.builtin(model, op) == OP.CONV_2D else 1)
            total += fb.tensor_bytes(graph.tensors[op.outputs[0]]) * per_output
    return total


def _valid_copy(options):
    """The op's options with VALID padding (padding is now explicit where the border needs it)."""
    copy = type(options)()
    for key, value in vars(options).items():
        setattr(copy, key, value)
    copy.padding = fb.VALID
    return copy
