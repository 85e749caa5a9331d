"""TFLite Micro on the host: the ``tflite_micro`` interpreter, its op coverage and the smallest tensor arena.

The ``tflite-micro`` wheel ships the real TFLM C++ interpreter (reference kernels, every op registered), so a model
that allocates and runs here is a model a microcontroller build of the same TFLM can run; an op missing from
``TFLM_BUILTIN_OPS`` fails on both. Arena figures are measured with this 64-bit host build: with the same TFLM
version and kernels a 32-bit Cortex-M typically needs a little less (pointers and per-tensor structs are half the
size); optimized kernels (CMSIS-NN scratch buffers) or another TFLM version can need more, hence a margin.

TFLM reports allocation failures with C++ ``printf``s to stderr ("Failed to resize buffer. Requested: …");
they are captured here (file-descriptor level) and only surface inside an error message when they explain one.
"""
import contextlib
import faulthandler
import os
import sys
import tempfile

import numpy as np

from lanmsff_edge import native
from lanmsff_edge.errors import UserError
from lanmsff_edge.log import tensorflow_verbose

# Builtin op → the MicroMutableOpResolver method that registers its kernel.
# Source: tensorflow/tflite-micro, tensorflow/lite/micro/micro_mutable_op_resolver.h (2025 revision), plus
# AddDynamicUpdateSlice / AddReduceAll, which later revisions added; cross-checked against the Register_<OP>()
# kernels compiled into the installed tflite_micro wheel (tests/test_micro.py checks the two agree).
TFLM_BUILTIN_OPS = {
    "ABS": "AddAbs",
    "ADD": "AddAdd",
    "ADD_N": "AddAddN",
    "ARG_MAX": "AddArgMax",
    "ARG_MIN": "AddArgMin",
    "ASSIGN_VARIABLE": "AddAssignVariable",
    "AVERAGE_POOL_2D": "AddAveragePool2D",
    "BATCH_MATMUL": "AddBatchMatMul",
    "BATCH_TO_SPACE_ND": "AddBatchToSpaceNd",
    "BROADCAST_ARGS": "AddBroadcastArgs",
    "BROADCAST_TO": "AddBroadcastTo",
    "CALL_ONCE": "AddCallOnce",
    "CAST": "AddCast",
    "CEIL": "AddCeil",
    "CONCATENATION": "AddConcatenation",
    "CONV_2D": "AddConv2D",
    "COS": "AddCos",
    "CUMSUM": "AddCumSum",
    "DEPTH_TO_SPACE": "AddDepthToSpace",
    "DEPTHWISE_CONV_2D": "AddDepthwiseConv2D",
    "DEQUANTIZE": "AddDequantize",
    "DIV": "AddDiv",
    "DYNAMIC_UPDATE_SLICE": "AddDynamicUpdateSlice",
    "ELU": "AddElu",
    "EMBEDDING_LOOKUP": "AddEmbeddingLookup",
    "EQUAL": "AddEqual",
    "EXP": "AddExp",
    "EXPAND_DIMS": "AddExpandDims",
    "FILL": "AddFill",
    "FLOOR": "AddFloor",
    "FLOOR_DIV": "AddFloorDiv",
    "FLOOR_MOD": "AddFloorMod",
    "FULLY_CONNECTED": "AddFullyConnected",
    "GATHER": "AddGather",
    "GATHER_ND": "AddGatherNd",
    "GREATER": "AddGreater",
    "GREATER_EQUAL": "AddGreaterEqual",
    "HARD_SWISH": "AddHardSwish",
    "IF": "AddIf",
    "L2_NORMALIZATION": "AddL2Normalization",
    "L2_POOL_2D": "AddL2Pool2D",
    "LEAKY_RELU": "AddLeakyRelu",
    "LESS": "AddLess",
    "LESS_EQUAL": "AddLessEqual",
    "LOG": "AddLog",
    "LOGICAL_AND": "AddLogicalAnd",
    "LOGICAL_NOT": "AddLogicalNot",
    "LOGICAL_OR": "AddLogicalOr",
    "LOGISTIC": "AddLogistic",
    "LOG_SOFTMAX": "AddLogSoftmax",
    "MAXIMUM": "AddMaximum",
    "MAX_POOL_2D": "AddMaxPool2D",
    "MEAN": "AddMean",
    "MINIMUM": "AddMinimum",
    "MIRROR_PAD": "AddMirrorPad",
    "MUL": "AddMul",
    "NEG": "AddNeg",
    "NOT_EQUAL": "AddNotEqual",
    "PACK": "AddPack",
    "PAD": "AddPad",
    "PADV2": "AddPadV2",
    "PRELU": "AddPrelu",
    "QUANTIZE": "AddQuantize",
    "READ_VARIABLE": "AddReadVariable",
    "REDUCE_ALL": "AddReduceAll",
    "REDUCE_MAX": "AddReduceMax",
    "REDUCE_MIN": "AddReduceMin",
    "RELU": "AddRelu",
    "RELU6": "AddRelu6",
    "RESHAPE": "AddReshape",
    "RESIZE_BILINEAR": "AddResizeBilinear",
    "RESIZE_NEAREST_NEIGHBOR": "AddResizeNearestNeighbor",
    "REVERSE_V2": "AddReverseV2",
    "ROUND": "AddRound",
    "RSQRT": "AddRsqrt",
    "SELECT_V2": "AddSelectV2",
    "SHAPE": "AddShape",
    "SIN": "AddSin",
    "SLICE": "AddSlice",
    "SOFTMAX": "AddSoftmax",
    "SPACE_TO_BATCH_ND": "AddSpaceToBatchNd",
    "SPACE_TO_DEPTH": "AddSpaceToDepth",
    "SPLIT": "AddSplit",
    "SPLIT_V": "AddSplitV",
    "SQRT": "AddSqrt",
    "SQUARE": "AddSquare",
    "SQUARED_DIFFERENCE": "AddSquaredDifference",
    "SQUEEZE": "AddSqueeze",
    "STRIDED_SLICE": "AddStridedSlice",
    "SUB": "AddSub",
    "SUM": "AddSum",
    "SVDF": "AddSvdf",
    "TANH": "AddTanh",
    "TRANSPOSE": "AddTranspose",
    "TRANSPOSE_CONV": "AddTransposeConv",
    "UNIDIRECTIONAL_SEQUENCE_LSTM": "AddUnidirectionalSequenceLSTM",
    "UNPACK": "AddUnpack",
    "VAR_HANDLE": "AddVarHandle",
    "WHILE": "AddWhile",
    "ZEROS_LIKE": "AddZerosLike",
}

# Custom ops TFLM itself implements (registered by name through these methods).
TFLM_CUSTOM_OPS = {
    "TFLite_Detection_PostProcess": "AddDetectionPostprocess",
    "CIRCULAR_BUFFER": "AddCircularBuffer",
}

ARENA_ALIGNMENT = 16  # TFLM aligns the arena start and its buffers to 16 bytes (MicroArenaBufferAlignment)
MAX_ARENA = 1 << 30


def _graph(model):
    from lanmsff_edge.tflite_graph import TFLiteGraph, read_tflite

    return model if isinstance(model, TFLiteGraph) else read_tflite(model)


def _bytes(model):
    if isinstance(model, (bytes, bytearray, memoryview)):
        return bytes(model)
    from lanmsff_edge import userfiles

    return userfiles.read_bytes(model, "model", what="model")


def unsupported_ops(model):
    """Op names of ``model`` (path, bytes or ``TFLiteGraph``) that TFLite Micro has no kernel for, in order of use.

    Custom ops are named ``CUSTOM:<code>`` (e.g. ``CUSTOM:FlexCumprod``) unless TFLM ships them.
    """
    missing = []
    for op in _graph(model).ops:
        known = op.name in TFLM_BUILTIN_OPS if op.builtin else op.custom_code in TFLM_CUSTOM_OPS
        if not known and op.name not in missing:
            missing.append(op.name)
    return missing


def check_supported(model, source=None):
    """Raise ``UserError`` naming every op TFLite Micro lacks; return the ``TFLiteGraph`` otherwise."""
    graph = _graph(model)
    missing = unsupported_ops(graph)
    if missing:
        name = source or graph.source or "the model"
        raise UserError(f"{name} uses op(s) TFLite Micro has no kernel for: {', '.join(missing)} "
                        f"(re-export without them, e.g. a different activation or static shapes)")
    return graph


def resolver_methods(model):
    """The ``MicroMutableOpResolver`` ``Add…()`` calls the model needs, one per distinct op, in order of first use."""
    graph = check_supported(model)
    methods = []
    for op in graph.ops:
        method = TFLM_BUILTIN_OPS[op.name] if op.builtin else TFLM_CUSTOM_OPS[op.custom_code]
        if method not in methods:
            methods.append(method)
    return methods


@contextlib.contextmanager
def captured_native_stderr():
    """Collect what C/C++ code writes to file descriptor 2 while the block runs; yields a list that receives the
    text on exit (set ``LANMSFF_VERBOSE=1`` to let it through instead)."""
    lines = []
    if tensorflow_verbose():
        yield lines
        return
    sys.stderr.flush()
    saved = os.dup(2)
    with tempfile.TemporaryFile() as sink:
        os.dup2(sink.fileno(), 2)
        try:
            yield lines
        finally:
            os.dup2(saved, 2)
            os.close(saved)
            sink.seek(0)
            lines.extend(sink.read().decode("utf-8", "replace").splitlines())


def _runtime():
    from tflite_micro.python.tflite_micro import runtime

    return runtime


def tflm_version():
    try:
        from tflite_micro import __version__
    except ImportError:  # pragma: no cover - very old wheels
        return "unknown"
    return __version__


class MicroAllocationError(RuntimeError):
    """TFLM could not allocate the model's tensors in the arena given (the message holds TFLM's own report)."""


def load(model, arena_size):
    """A TFLM host interpreter for ``model`` (path or bytes) with ``arena_size`` bytes of tensor arena.

    Raises ``MicroAllocationError`` (with TFLM's diagnostic) when the tensors do not fit or an op is missing.
    Runs in this process: give it an arena known to be large enough (``find_arena_size``), because TFLM can
    crash on some too-small arenas instead of failing (see ``allocates``).
    """
    data = _bytes(model)
    with captured_native_stderr() as report:
        try:
            return _runtime().Interpreter.from_bytes(data, arena_size=int(arena_size))
        except RuntimeError as error:
            failure = error
    detail = "; ".join(line.strip() for line in report if line.strip())
    raise MicroAllocationError(f"{failure}{': ' + detail if detail else ''}")


def allocates(model, arena_size):
    """True when TFLM's ``AllocateTensors`` succeeds for ``model`` in ``arena_size`` bytes.

    Probed in a forked child process: for some arenas that are too small, TFLM kernels dereference a failed
    persistent allocation and the process segfaults (seen with tflite-micro 2026 wheels between ~14 and ~19 KB
    for a small LANMSFF), so a crash here counts as "does not allocate" instead of killing the caller.
    """
    data = _bytes(model)
    if not hasattr(os, "fork"):  # pragma: no cover - Windows: no isolation available
        try:
            load(data, arena_size)
        except MicroAllocationError:
            return False
        return True
    runtime = _runtime()
    sys.stdout.flush()
    sys.stderr.flush()
    pid = os.fork()
    if pid == 0:  # child: silence C++ output, try, report through the exit status only
        code = 3
        try:
            faulthandler.disable()  # a crash is an answer here, not something to dump on the terminal
            devnull = os.open(os.devnull, os.O_WRONLY)
            os.dup2(devnull, 1)
            os.dup2(devnull, 2)
            try:
                runtime.Interpreter.from_bytes(data, arena_size=int(arena_size))
                code = 0
            except RuntimeError:
                code = 1
        finally:
            os._exit(code)
    _, status = os.waitpid(pid, 0)
    if os.WIFEXITED(status) and os.WEXITSTATUS(status) == 3:
        raise RuntimeError("the TFLM allocation probe failed unexpectedly (not an allocation error)")
    return os.WIFEXITED(status) and os.WEXITSTATUS(status) == 0


def _prepare_error(data):
    """TFLM's message for a model that does not allocate even in ``MAX_ARENA`` bytes ('' when it does)."""
    try:
        load(data, MAX_ARENA)
    except MicroAllocationError as error:
        return str(error)
    return ""


def find_arena_size(model, granularity=ARENA_ALIGNMENT, start=64 * 1024, source=None):
    """The smallest arena (a multiple of ``granularity`` bytes, 16 by default) in which the model allocates.

    Doubles from ``start`` until the model allocates, then bisects; allocation is monotonic in the arena size
    (TFLM's planner is deterministic). About 20 probes, each a forked ``allocates``: 1-3 s for LANMSFF.
    Raises ``UserError`` when an op is missing or a kernel rejects the model (nothing up to 1 GiB allocates).
    """
    data = _bytes(model)
    check_supported(data)
    high = max(granularity, _round_up(start, granularity))
    low = 0  # largest size known to fail (0 trivially does)
    if not allocates(data, high):
        if not allocates(data, MAX_ARENA):
            # every op has a kernel, yet even 1 GiB fails: a kernel rejected the model while preparing (an
            # unsupported type or parameter), not a memory problem; TFLM's own report says which
            error = native.isolated(f"{source or 'the model'}: TFLite Micro, preparing the model", _prepare_error,
                                    data)
            if error:
                raise UserError(f"{source + ': ' if source else ''}TFLite Micro cannot prepare this model (it fails "
                                f"even with a {MAX_ARENA // 2**30} GiB arena, so a kernel rejected an op's types or "
                                f"parameters): {error}")
            raise UserError(f"{source or 'the model'}: TFLite Micro crashes while preparing this model, whatever the "
                            "arena (a kernel aborts on one of its ops or shapes)")
        low, high = high, high * 2
        while not allocates(data, high):
            low, high = high, high * 2
    while high - low > granularity:
        middle = _round_up((low + high) // 2, granularity)
        if middle >= high:
            break
        if allocates(data, middle):
            high = middle
        else:
            low = middle
    return high


def _round_up(value, multiple):
    return -(-int(value) // multiple) * multiple


def invoke(interpreter, inputs):
    """Run one inference: ``inputs`` is one array (or a list, one per model input) already in the input dtype.

    Returns the outputs as a list of NumPy arrays (copies)."""
    if not isinstance(inputs, (list, tuple)):
        inputs = [inputs]
    for index, value in enumerate(inputs):
        details = interpreter.get_input_details(index)
        value = np.asarray(value)
        if value.dtype != details["dtype"]:
            raise UserError(f"TFLite Micro input {index} expects {np.dtype(details['dtype']).name}, "
                            f"got {value.dtype.name}")
        interpreter.set_input(value.reshape(tuple(details["shape"])), index)
    with captured_native_stderr() as report:
        try:
            interpreter.invoke()
        except RuntimeError as error:
            failure = error
        else:
            failure = None
    if failure is not None:
        detail = "; ".join(line.strip() for line in report if line.strip())
        raise UserError(f"TFLite Micro failed to run the model: {failure}{': ' + detail if detail else ''}")
    return [np.array(interpreter.get_output(i), copy=True) for i in range(output_count(interpreter))]


def output_count(interpreter):
    """Number of model outputs (the wrapper has no count; probing past the end raises IndexError)."""
    count = 0
    with captured_native_stderr():
        while True:
            try:
                interpreter.get_output_details(count)
            except (IndexError, RuntimeError, ValueError):
                return count
            count += 1


def run_isolated(model, inputs, arena_size=None, source="the model"):
    """``run`` in a forked child: a model on which TFLM aborts (some kernels assert instead of failing) is a
    ``UserError`` naming ``source``, not the end of this process."""
    return native.isolated(f"{source}: TFLite Micro, running the model", run, _bytes(model), inputs, arena_size)


def run(model, inputs, arena_size=None):
    """Load (arena: measured minimum plus 16 KB when not given), invoke once, return the outputs."""
    data = _bytes(model)
    if arena_size is None:
        arena_size = find_arena_size(data) + 16 * 1024
    try:
        interpreter = load(data, arena_size)
    except MicroAllocationError as error:
        raise UserError(f"TFLite Micro could not allocate the model in {arena_size} bytes: {error}") from None
    return invoke(interpreter, inputs)


class MicroRuntime:
    """One ``.tflite`` model in TFLite Micro on the host (its reference kernels), as a ``runtimes.Runtime``:
    float model inputs are quantized with the input tensor's scale and zero point, one image per invoke, and integer
    outputs dequantized, as ``litert.LiteRTRuntime`` does. ``arena_size``: the measured minimum plus 16 KB when not
    given."""

    backend = "tflite_micro"
    params = None

    def __init__(self, model, arena_size=None):
        from lanmsff_edge.runtimes.quantization import quantize_for

        data = _bytes(model)
        self.source = "<bytes>" if isinstance(model, (bytes, bytearray, memoryview)) else str(model)
        graph = _graph(data)
        self.input_tensor, self.output_tensor = graph.inputs[0], graph.outputs[0]
        self.num_classes = int(self.output_tensor.shape[-1])
        self.arena_size = (find_arena_size(data, source=self.source) + 16 * 1024 if arena_size is None
                           else int(arena_size))
        # one invoke where an abort cannot take this process down: a model TFLM aborts on is refused here
        shape = tuple(max(1, int(d)) for d in self.input_tensor.shape)
        run_isolated(data, np.zeros(shape, np.dtype(self.input_tensor.dtype)), self.arena_size, self.source)
        try:
            self.interpreter = load(data, self.arena_size)
        except MicroAllocationError as error:
            raise UserError(f"TFLite Micro could not allocate {self.source} in {self.arena_size} bytes: "
                            f"{error}") from None
        self._quantize = quantize_for

    def predict(self, x):
        outputs = [invoke(self.interpreter, self._quantize(self.input_tensor, image[None]))[0]
                   for image in np.asarray(x, np.float32)]
        if not outputs:
            return np.zeros((0, self.num_classes), np.float32)
        y = np.stack([np.asarray(o).reshape(-1) for o in outputs])
        tensor = self.output_tensor
        if not tensor.quantized:
            return y.astype(np.float32)
        return ((y.astype(np.float32) - tensor.zero_point) * tensor.scale).astype(np.float32)
