"""Cut one operator out of a ``.tflite`` model as a model of its own.

``single_op_model(data, k)`` returns a flatbuffer whose only op is op ``k`` of subgraph 0, with that op's tensors
(quantization included) and constant buffers; its graph inputs are the op's non-constant inputs, its outputs the
op's outputs. Running it on the tensors another run recorded for op ``k``'s inputs shows what op ``k`` computes
by itself, whatever the ops before it did: how ``bench.trace`` tells an op's own rounding from a difference it
inherits. Parsed and written with the schema that ships with LiteRT (``ai_edge_litert``); no TensorFlow.
"""
import copy
from dataclasses import dataclass

import flatbuffers
from ai_edge_litert import schema_py_generated as schema

from lanmsff_edge.tflite_graph import TFLITE_IDENTIFIER


@dataclass(frozen=True)
class SingleOp:
    """``data``: the one-op flatbuffer; ``inputs`` / ``outputs``: the indices, in the ORIGINAL model, of the
    tensors that feed the new model's inputs (in order) and that its outputs correspond to."""

    data: bytes
    inputs: tuple
    outputs: tuple


def _has_data(model, tensor):
    return 0 < tensor.buffer < len(model.buffers) and model.buffers[tensor.buffer].data is not None \
        and len(model.buffers[tensor.buffer].data) > 0


def single_op_model(data, index):
    """The model made of op ``index`` of subgraph 0 of ``data`` (bytes) alone; a ``SingleOp``."""
    model = schema.ModelT.InitFromPackedBuf(bytearray(data), 0)
    graph = model.subgraphs[0]
    if not 0 <= index < len(graph.operators):
        raise IndexError(f"op {index} out of range (the model has {len(graph.operators)} ops)")
    op = graph.operators[index]
    used = list(dict.fromkeys(int(i) for i in [*op.inputs, *op.outputs] if i >= 0))
    renumber = {old: new for new, old in enumerate(used)}
    buffers, tensors = [schema.BufferT()], []  # buffer 0 is the empty sentinel every model starts with
    for old in used:
        tensor = copy.copy(graph.tensors[old])
        if _has_data(model, tensor):
            buffers.append(model.buffers[tensor.buffer])
            tensor.buffer = len(buffers) - 1
        else:
            tensor.buffer = 0
        tensors.append(tensor)
    op.inputs = [renumber[int(i)] if i >= 0 else -1 for i in op.inputs]
    op.outputs = [renumber[int(i)] for i in op.outputs]
    feeds = list(dict.fromkeys(i for i in op.inputs if i >= 0 and tensors[i].buffer == 0))
    graph.tensors, graph.operators, graph.inputs, graph.outputs = tensors, [op], feeds, list(op.outputs)
    model.subgraphs[0] = graph  # other subgraphs (control flow bodies) stay as they were
    model.buffers = buffers
    model.signatureDefs, model.metadata, model.metadataBuffer = None, None, None
    builder = flatbuffers.Builder(1024)
    builder.Finish(model.Pack(builder), file_identifier=TFLITE_IDENTIFIER)
    return SingleOp(bytes(builder.Output()), tuple(used[i] for i in feeds), tuple(used[i] for i in op.outputs))


def softmax_input(data):
    """The index of the tensor feeding the final SOFTMAX (the logits) when that SOFTMAX produces the model's only
    output, else None."""
    from lanmsff_edge.tflite_graph import read_tflite

    graph = read_tflite(data)
    if len(graph.outputs) != 1:
        return None
    return next((int(op.inputs[0]) for op in graph.ops
                 if op.name == "SOFTMAX" and graph.outputs[0].index in op.outputs), None)


def with_extra_outputs(data, tensors):
    """``data`` with the intermediate ``tensors`` (indices) appended to subgraph 0's outputs: the same ops and
    integers, so a run reports them too (the logits before a softmax, for parity at the logits)."""
    model = schema.ModelT.InitFromPackedBuf(bytearray(data), 0)
    graph = model.subgraphs[0]
    graph.outputs = [*(int(i) for i in graph.outputs), *(int(i) for i in tensors)]
    model.signatureDefs = None  # a signature lists the outputs by name: it would not name the new ones
    builder = flatbuffers.Builder(1024)
    builder.Finish(model.Pack(builder), file_identifier=TFLITE_IDENTIFIER)
    return bytes(builder.Output())
