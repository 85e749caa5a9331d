"""Row-stripe (patch-based) execution of a model's high-resolution stem, rewritten on the ``.tflite`` flatbuffer.

TFLite Micro keeps every live tensor in its arena; LANMSFF's peak is block 1 at 64×64 (a 3×3 convolution's
input and output, 2 × 64×64×66 int8). ``split_stem(model, n)`` finds the stem — the chain of CONV_2D,
DEPTHWISE_CONV_2D and pooling ops that starts at the model input, each op the only reader of the one before —
cuts it at its smallest output, and replaces it by ``n`` stripes of output rows, each computed from a SLICE of
the input rows its receptive field needs (the halo), one stripe after the other, joined by a CONCATENATION along
the rows. Only one stripe's activations are alive at a time, so TFLM's planner reuses that memory (MCUNetV2's
patch-based inference, Lin et al. 2021, in stock TFLM ops).

Why on the flatbuffer and not in Keras: the rewrite then applies to any full-integer model as it is — the
bundled one, a user's own — and keeps its exact integers. Each stripe reuses the original weight buffers and
copies the quantization parameters of the tensor it stands for; a convolution's SAME padding becomes an
explicit PAD (which fills with the zero point, i.e. real 0, exactly what SAME contributes in int8 kernels)
only on the sides where the stripe touches the true image border, and VALID padding everywhere else, so no
seam sees padding. Re-converting a Keras model per stripe count would re-run the converter, whose choices
(fusions, ranges of a PTQ calibration) need not come out the same.
"""
from dataclasses import dataclass

import numpy as np
from ai_edge_litert import schema_py_generated as schema

from lanmsff_edge.errors import UserError
from lanmsff_edge.memory import flatbuffer as fb
from lanmsff_edge.memory.flatbuffer import OP

CONVOLUTIONS = (OP.CONV_2D, OP.DEPTHWISE_CONV_2D)
POOLS = (OP.MAX_POOL_2D, OP.AVERAGE_POOL_2D)


@dataclass(frozen=True)
class Layer:
    """One op of the stem, with what the row arithmetic needs."""

    index: int          # op index in the original subgraph
    builtin: int
    kernel: tuple       # (rows, cols)
    stride: tuple
    dilation: tuple
    padding: int        # fb.SAME or fb.VALID
    input_shape: tuple  # NHWC
    output_shape: tuple

    def pads(self, axis):
        """SAME padding before/after along ``axis`` (1 rows, 2 cols), as TFLite computes it."""
        if self.padding == fb.VALID:
            return 0, 0
        k, s, d = self.kernel[axis - 1], self.stride[axis - 1], self.dilation[axis - 1]
        total = max((self.output_shape[axis] - 1) * s + (k - 1) * d + 1 - self.input_shape[axis], 0)
        return total // 2, total - total // 2

    def input_rows(self, rows):
        """Input rows [lo, hi) (may reach past the border) that output rows ``rows`` = (lo, hi) read."""
        before, _ = self.pads(1)
        k, s, d = self.kernel[0], self.stride[0], self.dilation[0]
        return rows[0] * s - before, (rows[1] - 1) * s - before + (k - 1) * d + 1


@dataclass(frozen=True)
class Stem:
    layers: tuple
    input_tensor: int
    output_tensor: int

    @property
    def rows(self):
        return self.layers[-1].output_shape[1]


def _layer(model, graph, index):
    op = graph.operators[index]
    builtin = max(model.operatorCodes[op.opcodeIndex].builtinCode,
                  model.operatorCodes[op.opcodeIndex].deprecatedBuiltinCode)
    options = op.builtinOptions
    x = graph.tensors[op.inputs[0]]
    y = graph.tensors[op.outputs[0]]
    if builtin in CONVOLUTIONS:
        weights = graph.tensors[op.inputs[1]]
        kernel = tuple(int(v) for v in weights.shape[1:3])
        dilation = (options.dilationHFactor, options.dilationWFactor)
    else:
        kernel = (options.filterHeight, options.filterWidth)
        dilation = (1, 1)
    return Layer(index, builtin, kernel, (options.strideH, options.strideW), dilation, options.padding,
                 tuple(int(v) for v in x.shape), tuple(int(v) for v in y.shape))


def find_stem(model):
    """The chain of convolutions/pools from the model input, cut after its smallest output; ``UserError`` when
    the model has none (then there is nothing to split)."""
    graph = model.subgraphs[0]
    if len(graph.inputs) != 1:
        raise UserError("patch-based execution needs a model with one input")
    readers = fb.consumers(graph)
    tensor, layers = int(graph.inputs[0]), []
    while True:
        ops = readers.get(tensor, [])
        if len(ops) != 1:
            break
        op = graph.operators[ops[0]]
        code = model.operatorCodes[op.opcodeIndex]
        builtin = max(code.builtinCode, code.deprecatedBuiltinCode)
        if builtin not in CONVOLUTIONS + POOLS or int(op.inputs[0]) != tensor or len(op.outputs) != 1:
            break
        if builtin in CONVOLUTIONS and any(not fb.is_constant(model, graph.tensors[t]) for t in op.inputs[1:] if t >= 0):
            break
        layer = _layer(model, graph, ops[0])
        if len(layer.input_shape) != 4 or layer.input_shape[0] != 1:
            break
        if builtin in POOLS and (layer.pads(1) != (0, 0) or layer.pads(2) != (0, 0)):
            break  # SAME pooling ignores padded cells; an explicit PAD would change the result
        layers.append(layer)
        tensor = int(op.outputs[0])
    if not layers:
        raise UserError("the model has no convolution or pooling stem at its input to split into patches")
    sizes = [np.prod(layer.output_shape) for layer in layers]
    cut = max(i for i, size in enumerate(sizes) if size == min(sizes))
    layers = layers[:cut + 1]
    return Stem(tuple(layers), int(graph.inputs[0]), int(graph.operators[layers[-1].index].outputs[0]))


def stripes(rows, count):
    """``count`` contiguous output-row ranges covering ``rows`` rows, as equal as possible."""
    bounds = [round(i * rows / count) for i in range(count + 1)]
    return [(bounds[i], bounds[i + 1]) for i in range(count)]


def max_patches(model):
    return find_stem(model).rows


def split_stem(data, count):
    """``data`` (an int8 .tflite's bytes) with its stem run in ``count`` row stripes; ``count`` 1 returns it
    unchanged. Returns the new flatbuffer's bytes."""
    if count == 1:
        return bytes(data)
    model = fb.load(data)
    stem = find_stem(model)
    if not 1 <= count <= stem.rows:
        raise UserError(f"--patches {count}: the stem's output has {stem.rows} rows, so 1 to {stem.rows} patches")
    graph = model.subgraphs[0]
    edit = fb.Editor(model)
    original = [graph.operators[layer.index] for layer in stem.layers]
    new_ops, pieces = [], []
    for number, rows in enumerate(stripes(stem.rows, count)):
        # From the last layer back to the input: the rows each layer reads (``need``, which may reach past the
        # map's border) and the rows of its input that exist (``have``: the previous layer's output rows).
        need, have = [], []
        produced = rows
        for layer in reversed(stem.layers):
            lo, hi = layer.input_rows(produced)
            need.insert(0, (lo, hi))
            produced = (max(lo, 0), min(hi, layer.input_shape[1]))
            have.insert(0, produced)
        have.append(rows)
        shape = stem.layers[0].input_shape
        current = edit.tensor(graph.tensors[stem.input_tensor], [1, have[0][1] - have[0][0], shape[2], shape[3]],
                              f"patch{number}/input")
        begin = edit.int32_constant([0, have[0][0], 0, 0], f"patch{number}/begin")
        size = edit.int32_constant([1, have[0][1] - have[0][0], shape[2], shape[3]], f"patch{number}/size")
        new_ops.append(edit.operator(OP.SLICE, [stem.input_tensor, begin, size], [current]))
        for depth, (layer, op) in enumerate(zip(stem.layers, original)):
            top, bottom = have[depth][0] - need[depth][0], need[depth][1] - have[depth][1]  # the true border
            left, right = layer.pads(2)
            if top or bottom or left or right:
                padded = edit.tensor(graph.tensors[op.inputs[0]], [1, need[depth][1] - need[depth][0],
                                                                   layer.input_shape[2] + left + right,
                                                                   layer.input_shape[3]], f"patch{number}/pad{depth}")
                paddings = edit.int32_constant([[0, 0], [top, bottom], [left, right], [0, 0]],
                                               f"patch{number}/paddings{depth}")
                new_ops.append(edit.operator(OP.PAD, [current, paddings], [padded], schema.BuiltinOptions.PadOptions,
                                             schema.PadOptionsT()))
                current = padded
            rows_out = have[depth + 1]
            output = edit.tensor(graph.tensors[op.outputs[0]], [1, rows_out[1] - rows_out[0], layer.output_shape[2],
                                                                layer.output_shape[3]],
                                 f"patch{number}/{fb.op_name(model, op).lower()}{depth}")
            new_ops.append(edit.operator(layer.builtin, [current, *op.inputs[1:]], [output], op.builtinOptionsType,
                                         _valid_copy(op.builtinOptions)))
            current = output
        pieces.append(current)
    join = schema.ConcatenationOptionsT()
    join.axis = 1
    new_ops.append(edit.operator(OP.CONCATENATION, pieces, [stem.output_tensor],
                                 schema.BuiltinOptions.ConcatenationOptions, join))
    first = stem.layers[0].index
    removed = {layer.index for layer in stem.layers}
    kept = [op for i, op in enumerate(graph.operators) if i not in removed]
    position = sum(1 for i in range(first) if i not in removed)
    graph.operators = kept[:position] + new_ops + kept[position:]
    fb.drop_unused_tensors(model)  # the full-size maps the stripes replace
    return fb.save(model)


def _valid_copy(options):
    """The op's options with VALID padding (padding is now explicit where the border needs it)."""
    copy = type(options)()
    for key, value in vars(options).items():
        setattr(copy, key, value)
    copy.padding = fb.VALID
    return copy
