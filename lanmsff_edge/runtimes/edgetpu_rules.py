"""Coral Edge TPU compatibility of a ``.tflite`` model, from Coral's published requirements.

Source: coral.ai/docs/edgetpu/models-intro ("Model requirements" and "Supported operations", compiler 16):
- tensor parameters are quantized to 8 bits (full-integer int8/uint8; int32 biases), tensor sizes are constant
  at compile time (no dynamic shapes), model parameters are constant;
- tensors are 1-, 2- or 3-dimensional; a tensor with more dimensions may have size > 1 only in its 3 innermost;
- only the listed operations, within their stated limits, map to the Edge TPU;
- the compiler partitions the graph once: the first operation that cannot map and every operation after it
  run on the CPU, even supported ones.

The compiler has other, unpublished limits ("otherwise supported, but not mapped due to some unspecified
limitation"), so this check is an upper bound; with ``edgetpu_compiler`` on PATH its report is authoritative.
The edges are treated as the compiler treats them: a QUANTIZE of a float model input and a DEQUANTIZE of a model
output run on the CPU without splitting the graph.
"""
import numpy as np

from lanmsff_edge.tflite_graph import read_tflite

DOCS = "https://coral.ai/docs/edgetpu/models-intro/#supported-operations"
EIGHT_BIT = {"int8", "uint8"}
NO_FUSED_ACTIVATION = {"AVERAGE_POOL_2D", "MAX_POOL_2D", "CONCATENATION"}
SOFTMAX_MAX_ELEMENTS = 16000

# The published table: op → its known limitations (checked below where the file lets us check them).
SUPPORTED_OPS = {
    "ADD": "", "AVERAGE_POOL_2D": "No fused activation function.",
    "CONCATENATION": "No fused activation function. A compile-time constant input must be all zeros, with only 2 "
                     "inputs.",
    "CONV_2D": "Must use the same dilation in x and y.", "DEPTHWISE_CONV_2D": "Must use the same dilation in x and y.",
    "EXPAND_DIMS": "", "FULLY_CONNECTED": "Only the default weights format. Output tensor is one-dimensional.",
    "L2_NORMALIZATION": "", "LOGISTIC": "", "UNIDIRECTIONAL_SEQUENCE_LSTM": "Unidirectional LSTM only.",
    "MAXIMUM": "", "MAX_POOL_2D": "No fused activation function.",
    "MEAN": "No reduction in batch dimension. A z-reduction needs a z-dimension that is a multiple of 4.",
    "MINIMUM": "", "MUL": "", "PACK": "No packing in batch dimension.", "PAD": "No padding in batch dimension.",
    "PRELU": "Alpha must be 1-dimensional.", "QUANTIZE": "", "REDUCE_MAX": "Cannot operate on the batch dimension.",
    "REDUCE_MIN": "Cannot operate on the batch dimension.", "RELU": "", "RELU6": "", "RELU_N1_TO_1": "",
    "RESHAPE": "Certain reshapes might not be mapped for large tensor sizes.",
    "RESIZE_BILINEAR": "Input/output is a 3-dimensional tensor; may stay on the CPU to avoid precision loss.",
    "RESIZE_NEAREST_NEIGHBOR": "Input/output is a 3-dimensional tensor; may stay on the CPU to avoid precision "
                               "loss.",
    "RSQRT": "", "SLICE": "", "SOFTMAX": "Supports only 1-D input tensor with a max of 16,000 elements.",
    "SPACE_TO_DEPTH": "", "SPLIT": "No splitting in batch dimension.", "SQUEEZE": "",
    "STRIDED_SLICE": "All strides equal to 1; no ellipsis or new-axis masks.", "SUB": "",
    "SUM": "Cannot operate on the batch dimension.", "SQUARED_DIFFERENCE": "", "TANH": "", "TRANSPOSE": "",
    "TRANSPOSE_CONV": "",
}


class _Context:
    """One op with what the checks need: graph tensors, options (object API) and constant values."""

    def __init__(self, graph, model, index):
        self.graph, self.model, self.index = graph, model, index
        self.op = graph.ops[index]
        self.options = model.subgraphs[0].operators[index].builtinOptions

    def tensor(self, position, outputs=False):
        indices = self.op.outputs if outputs else self.op.inputs
        if position >= len(indices) or indices[position] < 0:
            return None
        return self.graph.tensors[indices[position]]

    def value(self, position):
        tensor = self.tensor(position)
        if tensor is None or not tensor.constant:
            return None
        raw = self.model.buffers[self.model.subgraphs[0].tensors[tensor.index].buffer].data
        if raw is None:
            return None
        return np.frombuffer(np.asarray(raw, dtype=np.uint8).tobytes(), dtype=np.dtype(tensor.dtype)).reshape(
            tensor.shape or ())

    def activations(self):
        """Non-constant tensors the op reads or writes."""
        indices = [i for i in self.op.inputs + self.op.outputs if i >= 0]
        return [self.graph.tensors[i] for i in indices if not self.graph.tensors[i].constant]


def _big_dims(shape):
    return sum(1 for d in shape if d > 1)


def _axes(values, rank):
    return {int(a) % rank for a in np.atleast_1d(values)} if values is not None and rank else set()


def op_problem(context):
    """Why this op cannot map to the Edge TPU, or None when the published rules allow it."""
    op = context.op
    if not op.builtin:
        return f"custom op {op.custom_code} is not an Edge TPU operation"
    if op.name not in SUPPORTED_OPS:
        return "not in the Edge TPU's supported operations"
    for tensor in context.activations():
        if tensor.dtype not in EIGHT_BIT:
            return f"works on a {tensor.dtype} tensor ({tensor.name}); the Edge TPU needs 8-bit tensors"
        if len(tensor.shape) > 3 and any(d > 1 for d in tensor.shape[:-3]):
            return (f"tensor {tensor.name} of shape {list(tensor.shape)} has more than 3 dimensions of size > 1 "
                    f"(only the 3 innermost may be > 1)")
    options = context.options
    activation = getattr(options, "fusedActivationFunction", 0)
    if op.name in NO_FUSED_ACTIVATION and activation:
        return "has a fused activation function (not supported for this op)"
    if op.name in ("CONV_2D", "DEPTHWISE_CONV_2D") and options is not None:
        if options.dilationWFactor != options.dilationHFactor:
            return f"dilation differs in x and y ({options.dilationHFactor}×{options.dilationWFactor})"
    if op.name == "FULLY_CONNECTED":
        if options is not None and options.weightsFormat != 0:
            return "weights are not in the default format"
        output = context.tensor(0, outputs=True)
        if output is not None and _big_dims(output.shape) > 1:
            return f"output of shape {list(output.shape)} is not one-dimensional"
    if op.name == "SOFTMAX":
        source = context.tensor(0)
        if source is not None and (_big_dims(source.shape) > 1 or source.elements > SOFTMAX_MAX_ELEMENTS):
            return f"input of shape {list(source.shape)} is not 1-D with at most {SOFTMAX_MAX_ELEMENTS} elements"
    if op.name in ("MEAN", "SUM", "REDUCE_MAX", "REDUCE_MIN"):
        source = context.tensor(0)
        rank = len(source.shape) if source is not None else 0
        axes = _axes(context.value(1), rank)
        if 0 in axes and rank == 4 and source.shape[0] > 1:
            return "reduces the batch dimension"
        if op.name == "MEAN" and rank and rank - 1 in axes and source.shape[-1] % 4:
            return f"reduces a z-dimension of {source.shape[-1]}, not a multiple of 4"
    if op.name == "SPLIT":
        source = context.tensor(1)
        if source is not None and len(source.shape) == 4 and 0 in _axes(context.value(0), 4) and source.shape[0] > 1:
            return "splits the batch dimension"
    if op.name == "PAD":
        paddings = context.value(1)
        if paddings is not None and paddings.ndim == 2 and paddings.shape[0] == 4 and np.any(paddings[0]):
            return "pads the batch dimension"
    if op.name == "PACK" and options is not None and options.axis == 0:
        output = context.tensor(0, outputs=True)
        if output is not None and output.shape and output.shape[0] > 1:
            return "packs along the batch dimension"
    if op.name == "STRIDED_SLICE":
        strides = context.value(3)
        if strides is not None and np.any(strides != 1):
            return f"strides {strides.tolist()} are not all 1"
        if options is not None and (options.ellipsisMask or options.newAxisMask):
            return "uses an ellipsis or new-axis mask"
    if op.name == "CONCATENATION":
        constants = [i for i in range(len(op.inputs)) if (t := context.tensor(i)) is not None and t.constant]
        for position in constants:
            values = context.value(position)
            if len(op.inputs) != 2 or values is None or np.any(values != 0):
                return "a constant input must be all zeros with exactly 2 inputs"
    return None


def _edge_op(graph, op):
    """QUANTIZE of a model input / DEQUANTIZE into a model output: I/O conversion left on the CPU."""
    if op.name == "QUANTIZE" and op.inputs and op.inputs[0] in graph.input_indices:
        return graph.tensors[op.inputs[0]].dtype not in EIGHT_BIT
    return op.name == "DEQUANTIZE" and op.outputs and op.outputs[0] in graph.output_indices


def model_problems(graph):
    """Model-level requirements that keep the whole graph off the Edge TPU."""
    problems = []
    float_activations = [t.name for t in graph.non_integer_tensors]
    if float_activations or graph.float_constants:
        example = (float_activations or [t.name for t in graph.float_constants])[0]
        problems.append(f"not fully 8-bit quantized (float tensors such as {example}); the Edge TPU runs only "
                        f"full-integer models")
    dynamic = [t.name for t in graph.tensors if any(d < 0 for d in t.shape_signature)]
    if dynamic:
        problems.append(f"dynamic tensor sizes (e.g. {dynamic[0]}); sizes must be constant at compile time")
    if graph.subgraph_count > 1:
        problems.append(f"{graph.subgraph_count} subgraphs; the compiler maps only a single-subgraph model")
    return problems


def check(model_bytes, source="<bytes>"):
    """Compatibility report of a TFLite model (bytes) against the published Edge TPU rules (a JSON-ready dict)."""
    from ai_edge_litert import schema_py_generated as schema

    graph = read_tflite(model_bytes, source=source)
    model = schema.ModelT.InitFromPackedBuf(bytearray(model_bytes), 0)
    problems = model_problems(graph)
    placements, split = [], None
    for index, op in enumerate(graph.ops):
        reason = "model is not Edge TPU compatible" if problems else op_problem(_Context(graph, model, index))
        if split is None and reason is not None and not _edge_op(graph, op):
            split = {"index": index, "op": op.name, "reason": reason}
        if reason is not None:
            placements.append((op, "cpu", reason))
        elif split is not None:
            placements.append((op, "cpu", f"after the graph split at op {split['index']} ({split['op']})"))
        else:
            placements.append((op, "tpu", None))
    on_tpu = [op for op, where, _ in placements if where == "tpu"]
    total_macs = sum(op.macs for op in graph.ops)
    return {
        "rules": DOCS,
        "problems": problems,
        "ops_total": len(graph.ops),
        "ops_on_tpu": len(on_tpu),
        "fraction_on_tpu": len(on_tpu) / len(graph.ops) if graph.ops else 0.0,
        "macs_fraction_on_tpu": (sum(op.macs for op in on_tpu) / total_macs) if total_macs else None,
        "first_unsupported": split,
        "cpu_ops": [{"index": op.index, "op": op.name, "reason": reason}
                    for op, where, reason in placements if where == "cpu"],
    }


def summary(check_result, limit=4):
    """One line naming the ops that would fall back to the CPU and why (for the table's notes)."""
    if check_result["problems"]:
        return "Edge TPU: " + "; ".join(check_result["problems"])
    split = check_result["first_unsupported"]
    own = [c for c in check_result["cpu_ops"] if not c["reason"].startswith("after the graph split")]
    if not own:
        return "Edge TPU: every op maps (published rules)"
    listed = "; ".join(f"{c['op']} #{c['index']}: {c['reason']}" for c in own[:limit])
    more = f" (+{len(own) - limit} more)" if len(own) > limit else ""
    text = f"Edge TPU CPU fallback: {listed}{more}"
    if split is not None:
        after = len(check_result["cpu_ops"]) - len(own)
        text += (f"; the graph splits at op {split['index']} ({split['op']}), {after} supported op(s) after it "
                 f"also run on the CPU")
    return text
