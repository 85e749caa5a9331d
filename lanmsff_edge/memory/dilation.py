"""Dilated depthwise convolutions in the form CMSIS-NN's fast kernels take: PAD → SPACE_TO_DEPTH → depthwise
(dilation 1, VALID, batch 1) → DEPTH_TO_SPACE, which computes the same integers.

CMSIS-NN's fast depthwise paths need dilation 1 (``arm_depthwise_conv_wrapper_s8.c``); LANMSFF's two dilation-2
depthwise convolutions fall back to the generic kernel (~30 instructions per MAC on an emulated Cortex-M7 against
~8 for the others; 16 % of all instructions on the Cortex-M55). A dilation-d convolution equals a dilation-1
convolution on the d×d phase-shifted sub-images. SPACE_TO_BATCH_ND lays them out as batches, which is bit-exact
but no faster (measured: CMSIS-NN's fast path also needs batch 1); SPACE_TO_DEPTH lays them out as channels of
one image instead, with the filter tiled d² times. The SAME padding is an explicit PAD (zero point, as SAME
contributes). The cost is two copies of the padded map, which can raise the arena where the convolution sits on
the memory peak, so it is an option.
"""
from ai_edge_litert import schema_py_generated as schema

from lanmsff_edge.memory import flatbuffer as fb
from lanmsff_edge.memory.flatbuffer import OP


def _candidates(model):
    graph = model.subgraphs[0]
    for index, op in enumerate(graph.operators):
        if fb.op_name(model, op) != "DEPTHWISE_CONV_2D":
            continue
        o = op.builtinOptions
        d = o.dilationHFactor
        shape = [int(v) for v in graph.tensors[op.inputs[0]].shape]
        kernel = [int(v) for v in graph.tensors[op.inputs[1]].shape[1:3]]
        if (d > 1 and o.dilationWFactor == d and o.strideH == o.strideW == 1 and o.padding == fb.SAME
                and len(shape) == 4 and shape[0] == 1 and kernel[0] % 2 == 1 and kernel[1] % 2 == 1):
            pads = [(k - 1) * d // 2 for k in kernel]
            if all((shape[axis + 1] + 2 * pads[axis]) % d == 0 for axis in (0, 1)):
                yield index, d, pads


def _tiled_constant(model, edit, tensor_index, copies, name):
    """A copy of constant ``tensor_index`` repeated ``copies`` times along its last axis (per-channel
    quantization parameters repeated with it)."""
    import numpy as np

    graph = model.subgraphs[0]
    source = graph.tensors[tensor_index]
    dtype = {schema.TensorType.INT8: np.int8, schema.TensorType.INT32: np.int32}[source.type]
    values = np.frombuffer(bytes(model.buffers[source.buffer].data), dtype=dtype).reshape(
        [int(v) for v in source.shape])
    tiled = np.concatenate([values] * copies, axis=-1)
    buffer = schema.BufferT()
    buffer.data = np.frombuffer(tiled.tobytes(), dtype=np.uint8).copy()
    model.buffers.append(buffer)
    tensor = schema.TensorT()
    tensor.shape = np.array(tiled.shape, dtype=np.int32)
    tensor.type = source.type
    tensor.buffer = len(model.buffers) - 1
    tensor.name = name.encode()
    q = source.quantization
    if q is not None and q.scale is not None:
        quantization = schema.QuantizationParametersT()
        per_channel = len(q.scale) > 1
        quantization.scale = np.tile(np.array(q.scale), copies) if per_channel else np.array(q.scale)
        quantization.zeroPoint = np.tile(np.array(q.zeroPoint), copies) if per_channel else np.array(q.zeroPoint)
        quantization.quantizedDimension = q.quantizedDimension
        tensor.quantization = quantization
    graph.tensors.append(tensor)
    return len(graph.tensors) - 1


def undilate(data):
    """``data`` with every eligible dilated depthwise convolution rewritten as PAD → SPACE_TO_DEPTH → depthwise
    over d² × the channels (filter, bias and per-channel scales tiled d² times; dilation 1, VALID, batch 1, so
    CMSIS-NN's fast path applies) → DEPTH_TO_SPACE. SPACE_TO_DEPTH puts phase (a, b) of channel c at depth
    (a·d + b)·C + c, so each output channel still reads only its own filter. Returns (bytes, how many)."""
    model = fb.load(data)
    graph = model.subgraphs[0]
    edit = fb.Editor(model)
    replaced = {}
    for index, d, (pad_h, pad_w) in list(_candidates(model)):
        op = graph.operators[index]
        x, y = graph.tensors[op.inputs[0]], graph.tensors[op.outputs[0]]
        _, h, w, c = (int(v) for v in x.shape)
        ph, pw = h + 2 * pad_h, w + 2 * pad_w
        kh, kw = (int(v) for v in graph.tensors[op.inputs[1]].shape[1:3])
        padded = edit.tensor(x, [1, ph, pw, c], f"undilate{index}/pad")
        phases = edit.tensor(x, [1, ph // d, pw // d, c * d * d], f"undilate{index}/space_to_depth")
        convolved = edit.tensor(y, [1, ph // d - (kh - 1), pw // d - (kw - 1), c * d * d],
                                f"undilate{index}/depthwise")
        filters = _tiled_constant(model, edit, int(op.inputs[1]), d * d, f"undilate{index}/filter")
        bias = _tiled_constant(model, edit, int(op.inputs[2]), d * d, f"undilate{index}/bias") \
            if len(op.inputs) > 2 and op.inputs[2] >= 0 else -1
        paddings = edit.int32_constant([[0, 0], [pad_h, pad_h], [pad_w, pad_w], [0, 0]], f"undilate{index}/paddings")
        options = type(op.builtinOptions)()
        for key, value in vars(op.builtinOptions).items():
            setattr(options, key, value)
        options.dilationHFactor = options.dilationWFactor = 1
        options.padding = fb.VALID
        to_depth, to_space = schema.SpaceToDepthOptionsT(), schema.DepthToSpaceOptionsT()
        to_depth.blockSize = to_space.blockSize = d
        replaced[index] = [
            edit.operator(OP.PAD, [op.inputs[0], paddings], [padded], schema.BuiltinOptions.PadOptions,
                          schema.PadOptionsT()),
            edit.operator(OP.SPACE_TO_DEPTH, [padded], [phases], schema.BuiltinOptions.SpaceToDepthOptions, to_depth),
            edit.operator(OP.DEPTHWISE_CONV_2D, [phases, filters, bias], [convolved], op.builtinOptionsType, options),
            edit.operator(OP.DEPTH_TO_SPACE, [convolved], [int(op.outputs[0])],
                          schema.BuiltinOptions.DepthToSpaceOptions, to_space),
        ]
    if not replaced:
        return bytes(data), 0
    graph.operators = [new for i, op in enumerate(graph.operators) for new in replaced.get(i, [op])]
    fb.drop_unused_tensors(model)
    return fb.save(model), len(replaced)
