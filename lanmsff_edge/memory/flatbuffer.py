"""Reading, editing and writing a ``.tflite`` flatbuffer with the object API of the schema LiteRT ships."""
import flatbuffers
import numpy as np
from ai_edge_litert import schema_py_generated as schema

from lanmsff_edge.errors import UserError

IDENTIFIER = b"TFL3"
SAME, VALID = schema.Padding.SAME, schema.Padding.VALID
OP = schema.BuiltinOperator
_OP_NAMES = {code: name for name, code in vars(OP).items() if not name.startswith("_")}


def load(data):
    if len(data) < 8 or data[4:8] != IDENTIFIER:
        raise UserError("not a TFLite flatbuffer (no TFL3 identifier)")
    return schema.ModelT.InitFromPackedBuf(bytearray(data), 0)


def save(model):
    builder = flatbuffers.Builder(1 << 20)
    builder.Finish(model.Pack(builder), file_identifier=IDENTIFIER)
    return bytes(builder.Output())


def builtin(model, op):
    """The op's builtin code (newer files keep codes above 127 in ``builtinCode`` only)."""
    code = model.operatorCodes[op.opcodeIndex]
    return max(code.builtinCode, code.deprecatedBuiltinCode)


def op_name(model, op):
    return _OP_NAMES.get(builtin(model, op), f"op{builtin(model, op)}")


def consumers(subgraph):
    """Tensor index → indices of the ops that read it (in op order)."""
    readers = {}
    for index, op in enumerate(subgraph.operators):
        for tensor in op.inputs:
            if tensor >= 0:
                readers.setdefault(int(tensor), []).append(index)
    return readers


def is_constant(model, tensor):
    buffer = model.buffers[tensor.buffer] if 0 <= tensor.buffer < len(model.buffers) else None
    return buffer is not None and buffer.data is not None and len(buffer.data) > 0


def tensor_bytes(tensor):
    itemsize = {schema.TensorType.INT8: 1, schema.TensorType.UINT8: 1, schema.TensorType.INT16: 2,
                schema.TensorType.INT32: 4, schema.TensorType.FLOAT32: 4, schema.TensorType.INT64: 8,
                schema.TensorType.BOOL: 1, schema.TensorType.FLOAT16: 2}.get(tensor.type, 4)
    return int(np.prod(tensor.shape)) * itemsize if tensor.shape is not None else 0


class Editor:
    """Adds tensors, constants and ops to subgraph 0 of ``model``."""

    def __init__(self, model):
        self.model = model
        self.graph = model.subgraphs[0]

    def opcode(self, builtin):
        for index, code in enumerate(self.model.operatorCodes):
            if max(code.builtinCode, code.deprecatedBuiltinCode) == builtin:
                return index
        code = schema.OperatorCodeT()
        code.builtinCode = builtin
        code.deprecatedBuiltinCode = min(builtin, 127)
        code.version = 1
        self.model.operatorCodes.append(code)
        return len(self.model.operatorCodes) - 1

    def tensor(self, like, shape, name):
        """A new activation tensor with ``like``'s type and quantization (a copy) and ``shape``."""
        tensor = schema.TensorT()
        tensor.shape = np.array(shape, dtype=np.int32)
        tensor.type = like.type
        tensor.buffer = 0  # buffer 0 is the schema's empty sentinel: no data, computed at run time
        tensor.name = name.encode()
        if like.quantization is not None:
            quantization = schema.QuantizationParametersT()
            quantization.scale = None if like.quantization.scale is None else np.array(like.quantization.scale)
            quantization.zeroPoint = (None if like.quantization.zeroPoint is None
                                      else np.array(like.quantization.zeroPoint))
            quantization.quantizedDimension = like.quantization.quantizedDimension
            tensor.quantization = quantization
        self.graph.tensors.append(tensor)
        return len(self.graph.tensors) - 1

    def int32_constant(self, values, name):
        values = np.asarray(values, dtype=np.int32)
        buffer = schema.BufferT()
        buffer.data = np.frombuffer(values.tobytes(), dtype=np.uint8).copy()
        self.model.buffers.append(buffer)
        tensor = schema.TensorT()
        tensor.shape = np.array(values.shape, dtype=np.int32)
        tensor.type = schema.TensorType.INT32
        tensor.buffer = len(self.model.buffers) - 1
        tensor.name = name.encode()
        self.graph.tensors.append(tensor)
        return len(self.graph.tensors) - 1

    def operator(self, builtin, inputs, outputs, options_type=0, options=None):
        op = schema.OperatorT()
        op.opcodeIndex = self.opcode(builtin)
        op.inputs = np.array(inputs, dtype=np.int32)
        op.outputs = np.array(outputs, dtype=np.int32)
        op.builtinOptionsType = options_type
        op.builtinOptions = options
        return op


def drop_unused_tensors(model):
    """Remove tensors no op and no graph input/output refers to, renumbering the rest. TFLite Micro plans every
    tensor of the subgraph: an orphan would keep its bytes in the arena for the whole run."""
    graph = model.subgraphs[0]
    used = {int(t) for op in graph.operators for t in [*op.inputs, *op.outputs] if t >= 0}
    used |= {int(t) for t in graph.inputs} | {int(t) for t in graph.outputs}
    kept = sorted(used)
    number = {old: new for new, old in enumerate(kept)}
    graph.tensors = [graph.tensors[i] for i in kept]
    renumber = np.vectorize(lambda t: number[int(t)] if t >= 0 else -1, otypes=[np.int32])
    for op in graph.operators:
        op.inputs = renumber(op.inputs) if len(op.inputs) else op.inputs
        op.outputs = renumber(op.outputs) if len(op.outputs) else op.outputs
        if op.intermediates is not None and len(op.intermediates):
            op.intermediates = renumber(op.intermediates)
    graph.inputs = renumber(graph.inputs)
    graph.outputs = renumber(graph.outputs)
