"""Checks on a converted flatbuffer: integer-only graph, I/O types, and a real run in TFLite Micro."""
import numpy as np

from lanmsff_edge.errors import UserError
from lanmsff_edge.runtimes import micro
from lanmsff_edge.tflite_graph import TFLiteGraph, read_tflite


def float_ops(graph):
    """Ops of ``graph`` that compute in float (a float non-constant tensor among their inputs/outputs), except the
    QUANTIZE that reads a float model input and the DEQUANTIZE that writes a float model output."""
    io = set(graph.input_indices) | set(graph.output_indices)
    found = []
    for op in graph.ops:
        tensors = [graph.tensors[i] for i in op.inputs + op.outputs if i >= 0]
        if all(t.dtype not in ("float32", "float16") or t.constant for t in tensors):
            continue
        at_edge = (op.name == "QUANTIZE" and op.inputs[0] in io) or (op.name == "DEQUANTIZE" and op.outputs[0] in io)
        if not at_edge:
            found.append(op)
    return found


def requantize_ops(graph):
    """int8 → int8 QUANTIZE ops in the middle of the graph (integer, but each one costs a pass over a tensor)."""
    return [op for op in graph.ops if op.name == "QUANTIZE" and graph.tensors[op.inputs[0]].dtype != "float32"]


def check_integer(model, io="int8", source="the model"):
    """Raise ``UserError`` unless ``model`` (bytes, path or graph) computes only in integers, with ``io`` I/O."""
    graph = model if isinstance(model, TFLiteGraph) else read_tflite(model)
    bad = float_ops(graph)
    if bad:
        names = ", ".join(dict.fromkeys(f"{op.name}#{op.index}" for op in bad))
        raise UserError(f"{source} is not fully integer: float ops {names}")
    wanted = "int8" if io == "int8" else "float32"
    for kind, tensors in (("input", graph.inputs), ("output", graph.outputs)):
        dtypes = {t.dtype for t in tensors}
        if dtypes != {wanted}:
            raise UserError(f"{source}: {kind} type {'/'.join(sorted(dtypes))}, expected {wanted}")
    return graph


def micro_check(model, source="the model"):
    """Load ``model`` in TFLite Micro and run one zero input. Returns ``{"loadable", "arena_bytes", "error"}``:
    loadable False with the reason (missing ops are named) instead of raising."""
    try:
        micro.check_supported(model, source)
        arena = micro.find_arena_size(model)
        graph = read_tflite(model)
        tensor = graph.inputs[0]
        dtype = np.dtype(tensor.dtype)
        micro.run(model, np.zeros(tensor.shape, dtype), arena_size=arena + 16 * 1024)
    except UserError as error:
        return {"loadable": False, "arena_bytes": None, "error": str(error)}
    return {"loadable": True, "arena_bytes": int(arena), "error": None}


def require_micro(model, source="the model"):
    """``micro_check`` that raises ``UserError`` (naming the missing ops) when TFLite Micro cannot run the model."""
    result = micro_check(model, source)
    if not result["loadable"]:
        raise UserError(f"{source} does not run in TFLite Micro: {result['error']}")
    return result


def _output_step(graph):
    """The quantization step of the model's (last integer) output: the output's own scale, or for a float output
    the scale of the tensor its DEQUANTIZE reads."""
    output = graph.outputs[0]
    if output.quantized:
        return output.scale
    producer = next((op for op in graph.ops if output.index in op.outputs), None)
    if producer is not None and producer.name == "DEQUANTIZE":
        return graph.tensors[producer.inputs[0]].scale
    return None


def micro_agreement(data, inputs, arena_size, kernels="reference"):
    """Largest difference between TFLite Micro and LiteRT (with ``kernels``, see ``LiteRTRuntime``) outputs over
    ``inputs`` (float model inputs), in output quantization steps (0 = identical)."""
    from lanmsff_edge.runtimes.litert import LiteRTRuntime

    litert_model = LiteRTRuntime(data, kernels=kernels)
    graph = read_tflite(data)
    step = _output_step(graph)
    interpreter = micro.load(data, int(arena_size) + 16 * 1024)
    worst = 0.0
    for x in inputs:
        raw = litert_model.quantize_input(x[None])
        expected = litert_model.invoke_raw(raw).astype(np.float64)
        interpreter.reset()
        got = micro.invoke(interpreter, raw)[0].astype(np.float64).reshape(expected.shape)
        difference = np.abs(expected - got).max()
        worst = max(worst, difference if np.issubdtype(litert_model.output_dtype, np.integer) or not step
                    else difference / step)
    return float(worst)
