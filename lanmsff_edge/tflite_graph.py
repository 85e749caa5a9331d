"""What a ``.tflite`` file holds, read straight from its flatbuffer: ops, tensors, quantization, MACs.

No interpreter is started: the file is parsed with the schema that ships with LiteRT (``ai_edge_litert``), so this
works for models no runtime can load (unknown custom ops, float ops a microcontroller lacks) and answers in
milliseconds. ``read_tflite(path)`` → ``TFLiteGraph``; a file that is not a TFLite flatbuffer raises ``UserError``.

MACs follow the convention of ``lanmsff_edge.model.summary``: multiply-accumulates of CONV_2D, DEPTHWISE_CONV_2D,
TRANSPOSE_CONV, FULLY_CONNECTED and BATCH_MATMUL, and of the recurrent layers SVDF and (unidirectional sequence)
LSTM; element-wise ops count 0. Ops that multiply by weights but whose MACs are not counted here (CONV_3D, other
recurrent layers, custom ops) are listed by ``TFLiteGraph.uncounted_ops``, so a total is never silently short.
"""
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
from ai_edge_litert import schema_py_generated as schema

from lanmsff_edge.errors import UserError

# Bytes 4..8 of every TFLite flatbuffer (the schema's file_identifier).
TFLITE_IDENTIFIER = b"TFL3"

MAC_OPS = ("CONV_2D", "DEPTHWISE_CONV_2D", "TRANSPOSE_CONV", "FULLY_CONNECTED", "BATCH_MATMUL", "SVDF",
           "UNIDIRECTIONAL_SEQUENCE_LSTM", "LSTM")
# Builtins that multiply by weights but whose MACs ``_macs`` does not count (custom ops are uncounted too).
UNCOUNTED_MAC_OPS = ("CONV_3D", "CONV_3D_TRANSPOSE", "BIDIRECTIONAL_SEQUENCE_LSTM", "BIDIRECTIONAL_SEQUENCE_RNN",
                     "UNIDIRECTIONAL_SEQUENCE_RNN", "RNN", "EMBEDDING_LOOKUP_SPARSE")

_OP_NAMES = {code: name for name, code in vars(schema.BuiltinOperator).items() if not name.startswith("_")}
_TYPE_NAMES = {code: name.lower() for name, code in vars(schema.TensorType).items() if not name.startswith("_")}
_FLOAT_TYPES = {"float32", "float16", "float64", "bfloat16", "float8_e4m3fn", "float8_e5m2"}
_INTEGER_TYPES = {"int2", "int4", "uint4", "int8", "uint8", "int16", "uint16", "int32", "uint32", "int64",
                  "uint64", "bool"}


@dataclass(frozen=True)
class TensorInfo:
    """One tensor of subgraph 0. ``scales``/``zero_points`` are empty for a float tensor, one entry per tensor
    for per-tensor quantization, one per channel (along ``quantized_dimension``) for per-axis."""

    index: int
    name: str
    shape: tuple
    dtype: str
    scales: tuple = ()
    zero_points: tuple = ()
    quantized_dimension: int = 0
    constant: bool = False
    variable: bool = False
    shape_signature: tuple = ()

    @property
    def quantized(self):
        return bool(self.scales)

    @property
    def scale(self):
        """Per-tensor scale (the first one of a per-axis tensor); None when not quantized."""
        return float(self.scales[0]) if self.scales else None

    @property
    def zero_point(self):
        return int(self.zero_points[0]) if self.zero_points else None

    @property
    def elements(self):
        return int(np.prod(self.shape)) if self.shape else 1

    def as_dict(self):
        return {"index": self.index, "name": self.name, "shape": list(self.shape), "dtype": self.dtype,
                "scale": self.scale, "zero_point": self.zero_point, "per_axis": len(self.scales) > 1,
                "constant": self.constant}


@dataclass(frozen=True)
class OpInfo:
    """One operator in execution order. ``name`` is the builtin name (``CONV_2D``) or ``CUSTOM:<code>``."""

    index: int
    name: str
    builtin: bool
    version: int
    inputs: tuple
    outputs: tuple
    macs: int = 0
    custom_code: str | None = None


@dataclass(frozen=True)
class TFLiteGraph:
    """The parsed model. Tensor and op details describe subgraph 0 (the one a TFLite/TFLM interpreter runs)."""

    size_bytes: int
    schema_version: int
    subgraph_count: int
    tensors: tuple
    ops: tuple
    input_indices: tuple
    output_indices: tuple
    description: str = ""
    source: str = ""
    metadata_names: tuple = field(default=())

    @property
    def inputs(self):
        return [self.tensors[i] for i in self.input_indices]

    @property
    def outputs(self):
        return [self.tensors[i] for i in self.output_indices]

    @property
    def op_names(self):
        """Distinct op names in order of first use (builtins as ``CONV_2D``, custom ops as ``CUSTOM:<code>``)."""
        return list(dict.fromkeys(op.name for op in self.ops))

    @property
    def op_set(self):
        return set(self.op_names)

    @property
    def builtin_ops(self):
        return [name for name in self.op_names if not name.startswith("CUSTOM:")]

    @property
    def custom_ops(self):
        """Custom-op codes (e.g. ``FlexCumprod``), in order of first use."""
        return list(dict.fromkeys(op.custom_code for op in self.ops if not op.builtin))

    @property
    def op_counts(self):
        return dict(Counter(op.name for op in self.ops))

    @property
    def macs(self):
        return sum(op.macs for op in self.ops)

    @property
    def uncounted_ops(self):
        """{op name: count} of the ops that multiply by weights but whose MACs ``macs`` leaves out."""
        return dict(Counter(op.name for op in self.ops if op.name in UNCOUNTED_MAC_OPS or not op.builtin))

    @property
    def macs_by_op(self):
        totals = Counter()
        for op in self.ops:
            if op.macs:
                totals[op.name] += op.macs
        return dict(totals)

    @property
    def non_integer_tensors(self):
        """Activations (non-constant, non-I/O tensors that an op reads or writes) whose type is not an integer type.

        Tensors no op reads or writes are left out: the int8 LSTM kernels carry their gate quantization in empty
        float32 "intermediate" tensors (``Operator.intermediates``), which hold no data and run on no kernel."""
        io = set(self.input_indices) | set(self.output_indices)
        used = {index for op in self.ops for index in (*op.inputs, *op.outputs) if index >= 0}
        return [t for t in self.tensors if t.index not in io and t.index in used and not t.constant
                and t.dtype not in _INTEGER_TYPES]

    @property
    def float_constants(self):
        return [t for t in self.tensors if t.constant and t.dtype in _FLOAT_TYPES]

    @property
    def fully_integer(self):
        """True when every activation and every constant is an integer type (int8 weights/activations, int32
        biases, integer shape tensors): what an integer-only accelerator or a microcontroller kernel runs.
        Input and output tensors may still be float (a QUANTIZE/DEQUANTIZE pair at the edges); see ``integer_io``."""
        return not self.non_integer_tensors and not self.float_constants

    @property
    def integer_io(self):
        return all(t.dtype in _INTEGER_TYPES for t in self.inputs + self.outputs)

    def summary(self):
        """A JSON-friendly dict of everything a report needs."""
        return {
            "size_bytes": self.size_bytes,
            "schema_version": self.schema_version,
            "subgraphs": self.subgraph_count,
            "ops": self.op_names,
            "op_counts": self.op_counts,
            "custom_ops": self.custom_ops,
            "macs": self.macs,
            "macs_by_op": self.macs_by_op,
            "fully_integer": self.fully_integer,
            "integer_io": self.integer_io,
            "inputs": [t.as_dict() for t in self.inputs],
            "outputs": [t.as_dict() for t in self.outputs],
            "tensors": len(self.tensors),
        }


def is_tflite(data):
    """True when ``data`` (bytes) carries the TFLite flatbuffer identifier."""
    return len(data) >= 8 and bytes(data[4:8]) == TFLITE_IDENTIFIER


def read_tflite(model, source=None):
    """Parse a ``.tflite`` file (path) or its bytes into a ``TFLiteGraph``.

    Raises ``UserError("<path> is not a .tflite model")`` for anything that is not a readable TFLite flatbuffer.
    """
    if isinstance(model, (bytes, bytearray, memoryview)):
        data = bytes(model)
        source = source or "<bytes>"
    else:
        path = Path(model)
        source = source or str(path)
        if not path.exists():
            raise UserError(f"{path}: no such model file")
        from lanmsff_edge import userfiles

        data = userfiles.read_bytes(path, "model", what="model")
    if not is_tflite(data):
        raise UserError(f"{source} is not a .tflite model (no TFL3 flatbuffer identifier)")
    try:
        return _parse(data, source)
    except UserError:
        raise
    except Exception as error:  # a truncated or corrupt flatbuffer fails deep inside the generated reader
        raise UserError(f"{source} is not a .tflite model ({type(error).__name__} while reading it)") from None


def _parse(data, source):
    model = schema.Model.GetRootAs(data, 0)
    if model.SubgraphsLength() < 1:
        raise UserError(f"{source} is not a .tflite model (no subgraph)")
    graph = model.Subgraphs(0)
    tensors = tuple(_tensor(model, graph.Tensors(i), i) for i in range(graph.TensorsLength()))
    opcodes = [_opcode(model.OperatorCodes(i)) for i in range(model.OperatorCodesLength())]
    ops = []
    for i in range(graph.OperatorsLength()):
        op = graph.Operators(i)
        name, builtin, version, custom = opcodes[op.OpcodeIndex()]
        inputs = tuple(int(x) for x in op.InputsAsNumpy()) if op.InputsLength() else ()
        outputs = tuple(int(x) for x in op.OutputsAsNumpy()) if op.OutputsLength() else ()
        macs = _macs(name, op, inputs, outputs, tensors)
        ops.append(OpInfo(i, name, builtin, version, inputs, outputs, macs, custom))
    metadata = tuple(_text(model.Metadata(i).Name()) for i in range(model.MetadataLength()))
    return TFLiteGraph(
        size_bytes=len(data),
        schema_version=int(model.Version()),
        subgraph_count=int(model.SubgraphsLength()),
        tensors=tensors,
        ops=tuple(ops),
        input_indices=tuple(int(x) for x in graph.InputsAsNumpy()) if graph.InputsLength() else (),
        output_indices=tuple(int(x) for x in graph.OutputsAsNumpy()) if graph.OutputsLength() else (),
        description=_text(model.Description()),
        source=source,
        metadata_names=metadata,
    )


def _text(raw):
    if raw is None:
        return ""
    return raw.decode("utf-8", "replace") if isinstance(raw, bytes) else str(raw)


def _opcode(code):
    # Since schema v3a the real code lives in builtin_code; old files only fill deprecated_builtin_code (< 127).
    value = max(int(code.BuiltinCode()), int(code.DeprecatedBuiltinCode()))
    name = _OP_NAMES.get(value, f"BUILTIN_{value}")
    if name == "CUSTOM":
        custom = _text(code.CustomCode())
        return f"CUSTOM:{custom}", False, int(code.Version()), custom
    return name, True, int(code.Version()), None


def _tensor(model, tensor, index):
    shape = tuple(int(x) for x in tensor.ShapeAsNumpy()) if tensor.ShapeLength() else ()
    signature = tuple(int(x) for x in tensor.ShapeSignatureAsNumpy()) if tensor.ShapeSignatureLength() else shape
    scales, zero_points, axis = (), (), 0
    quant = tensor.Quantization()
    if quant is not None and quant.ScaleLength():
        scales = tuple(float(x) for x in quant.ScaleAsNumpy())
        zero_points = tuple(int(x) for x in quant.ZeroPointAsNumpy()) if quant.ZeroPointLength() else (0,) * len(
            scales)
        axis = int(quant.QuantizedDimension())
    buffer_index = int(tensor.Buffer())
    constant = False
    if 0 < buffer_index < model.BuffersLength():
        buffer = model.Buffers(buffer_index)
        constant = buffer.DataLength() > 0 or int(buffer.Offset()) > 1
    return TensorInfo(
        index=index,
        name=_text(tensor.Name()),
        shape=shape,
        dtype=_TYPE_NAMES.get(int(tensor.Type()), f"type_{int(tensor.Type())}"),
        scales=scales,
        zero_points=zero_points,
        quantized_dimension=axis,
        constant=constant,
        variable=bool(tensor.IsVariable()),
        shape_signature=signature,
    )


def _shape(tensors, index):
    return tensors[index].shape if 0 <= index < len(tensors) else ()


def _macs(name, op, inputs, outputs, tensors):
    """Multiply-accumulates of one op for the shapes stored in the file (batch included)."""
    if name not in MAC_OPS or not outputs:
        return 0
    out = _shape(tensors, outputs[0])
    if not out:
        return 0
    if name == "CONV_2D":  # filter [out_ch, kh, kw, in_ch / groups]
        _, kh, kw, cin = _shape(tensors, inputs[1])
        return int(np.prod(out)) * kh * kw * cin
    if name == "DEPTHWISE_CONV_2D":  # filter [1, kh, kw, out_ch]
        _, kh, kw, _ = _shape(tensors, inputs[1])
        return int(np.prod(out)) * kh * kw
    if name == "TRANSPOSE_CONV":  # inputs: output_shape, filter [out_ch, kh, kw, in_ch], input [n, h, w, in_ch]
        cout, kh, kw, _ = _shape(tensors, inputs[1])
        return int(np.prod(_shape(tensors, inputs[2]))) * kh * kw * cout
    if name == "FULLY_CONNECTED":  # weights [units, in_features]
        units, depth = _shape(tensors, inputs[1])
        return int(np.prod(out)) * depth
    if name == "BATCH_MATMUL":
        options = schema.BatchMatMulOptions()
        table = op.BuiltinOptions()
        adj_x = False
        if table is not None:
            options.Init(table.Bytes, table.Pos)
            adj_x = bool(options.AdjX())
        lhs = _shape(tensors, inputs[0])
        depth = lhs[-2] if adj_x else lhs[-1]
        return int(np.prod(out)) * depth
    if name == "SVDF":  # input [batch, features]; weights_feature [units·rank, features],
        # weights_time [units·rank, memory]
        batch = _shape(tensors, inputs[0])[0]
        filters, features = _shape(tensors, inputs[1])
        memory = _shape(tensors, inputs[2])[1]
        return int(batch) * int(filters) * (int(features) + int(memory))
    if name in ("UNIDIRECTIONAL_SEQUENCE_LSTM", "LSTM"):  # 4 gates × (input + recurrent weights) per step
        x = _shape(tensors, inputs[0])
        cells, features = _shape(tensors, inputs[4])  # input_to_output_weights [cells, features], always present
        units = _shape(tensors, inputs[8])[1]  # recurrent_to_output_weights [cells, outputs]
        steps = int(np.prod(x[:-1]))  # batch × time (time major or not)
        gates = 4 if inputs[1] >= 0 else 3  # CIFG (coupled input-forget) has no input gate
        projection = int(np.prod(_shape(tensors, inputs[16]))) if len(inputs) > 16 and inputs[16] >= 0 else 0
        return steps * (gates * int(cells) * (int(features) + int(units)) + projection)
    return 0


WEIGHT_INPUTS = {  # op → positions of its weight and bias inputs (what "parameters" means in a .tflite)
    "CONV_2D": (1, 2), "DEPTHWISE_CONV_2D": (1, 2), "FULLY_CONNECTED": (1, 2), "TRANSPOSE_CONV": (1, 3),
    "PRELU": (1,), "BATCH_MATMUL": (1,),
}


def tflite_params(graph):
    """Elements of the weight and bias tensors of the layers with kernels (batch norm is folded into them)."""
    total = 0
    for op in graph.ops:
        for position in WEIGHT_INPUTS.get(op.name, ()):
            if position < len(op.inputs) and op.inputs[position] >= 0:
                tensor = graph.tensors[op.inputs[position]]
                if tensor.constant:
                    total += tensor.elements
    return total


def tflite_precision(graph):
    """'int8' / 'uint8' / 'int16x8' for integer-only graphs, 'float16' / 'dynamic-int8' for weight-only
    quantization, else 'float32'."""
    if graph.fully_integer:
        # variable tensors (an int8 LSTM's int16 cell state) are the kernel's state, not the model's activations
        activations = {t.dtype for t in graph.tensors
                       if not t.constant and not t.variable and t.dtype in ("int8", "uint8", "int16")}
        if "int16" in activations:
            return "int16x8"
        return "uint8" if activations == {"uint8"} else "int8"
    weights = set()
    for op in graph.ops:
        if op.name in WEIGHT_INPUTS and len(op.inputs) > 1 and op.inputs[1] >= 0:
            weights.add(graph.tensors[op.inputs[1]].dtype)
    if "float16" in weights or any(op.name == "DEQUANTIZE" and graph.tensors[op.inputs[0]].dtype == "float16"
                                   for op in graph.ops):
        return "float16"
    if weights & {"int8", "uint8"}:
        return "dynamic-int8"
    return "float32"
