"""Kernel parity: one integer ``.tflite`` model run by several kernel libraries on the same raw inputs, and
their raw outputs compared pair by pair.

A backend is a name, a description and ``start(model_bytes, threads) -> run``; ``run(raw_input)`` takes one input
already in the model's input dtype and shape (int8 1×64×64×1 for LANMSFF) and returns the raw output (int8 1×C).
Nothing is dequantized or re-quantized on the way, so a difference is the kernels' and nothing else's. Built in:

- ``xnnpack``: LiteRT's default (the XNNPACK delegate; ops it does not take run on the optimized builtin kernels);
- ``reference``: LiteRT's reference kernels (``OpResolverType.BUILTIN_REF``);
- ``builtin``: LiteRT's optimized builtin kernels without XNNPACK (``BUILTIN_WITHOUT_DEFAULT_DELEGATES``);
- ``tflm``: TFLite Micro on the host from the ``tflite-micro`` wheel (``runtimes.micro``: its reference kernels,
  TFLM's stock double rounding, what a microcontroller build without optimized kernels runs);
- ``tflm-single``: TFLite Micro built from a TFLM tree (``tflm=`` or ``$TFLM_DIR``) for this computer with single
  rounding (``firmware_export.host``): what a firmware built with ``--rounding single`` computes.

More (emulated Cortex-M cores, a phone) join with ``register_backend``; every table then has their pairs too.
When the model ends in a SOFTMAX, every backend also returns its input (the logits: ``tflite_slice``), so the
pairs are compared at the logits too (``ParityResult.logit_pairs``): the int8 softmax can turn one logit step
into many output steps.

    result = measure(model_bytes, raw_inputs, ("xnnpack", "reference", "tflm"))
    result.pairs[0]  # {"a": "xnnpack", "b": "reference", "max_abs_diff": 15.0, "images_differing": 42, ...}

A backend's ``run(raw_input)`` returns the raw output, or a list of the model's raw outputs in order.
"""
from collections.abc import Callable
from dataclasses import dataclass, field
from itertools import combinations

import numpy as np

from lanmsff_edge.errors import UserError
from lanmsff_edge.log import get_logger
from lanmsff_edge.runtimes.quantization import quantize_for

LOGGER = get_logger(__name__)

DEFAULT_BACKENDS = ("xnnpack", "reference", "tflm")
TFLM_ARENA_MARGIN = 16 * 1024  # as runtimes.micro.run: the measured minimum plus a margin


class BackendError(RuntimeError):
    """A backend cannot run this model (XNNPACK refused it, TFLite Micro lacks an op …); the message says why."""


@dataclass(frozen=True)
class Backend:
    name: str
    description: str
    start: Callable  # (model bytes, threads[, tflm]) -> run(raw input) -> raw output or the list of outputs
    needs_tree: bool = False  # start takes the TFLM tree option (``tflm``) as a third argument


BACKENDS = {}


def output_parity(tflm_outputs, litert_outputs, output_tensor):
    """Max |TFLM − LiteRT| (in quantization steps for an integer output, in output units for float) and the
    fraction of inputs whose top-1 class agrees."""
    a = np.stack([np.asarray(o).reshape(-1) for o in tflm_outputs])
    b = np.stack([np.asarray(o).reshape(-1) for o in litert_outputs])
    difference = np.abs(a.astype(np.float64) - b.astype(np.float64))
    unit = "quantization steps" if output_tensor.quantized else "output units"
    return {"images": int(len(a)), "max_abs_diff": float(difference.max()), "unit": unit,
            "top1_agreement": float(np.mean(a.argmax(axis=1) == b.argmax(axis=1)))}


def register_backend(name, description, start, needs_tree=False):
    """Add (or replace) backend ``name``: ``start(model_bytes, threads)`` (``start(model_bytes, threads, tflm)``
    with ``needs_tree``: ``tflm`` is the TFLM tree option, None for ``$TFLM_DIR``) returns ``run(raw_input)`` →
    the raw output (or the list of outputs), and raises ``BackendError`` (or ``UserError``) when the model cannot
    run there."""
    BACKENDS[name] = Backend(name, description, start, needs_tree)
    return BACKENDS[name]


def backend_names(text):
    """``"xnnpack,tflm"`` → ``("xnnpack", "tflm")``; an unknown or repeated name, or fewer than two, is a
    ``UserError``."""
    names = tuple(part.strip() for part in str(text).split(",") if part.strip())
    unknown = [name for name in names if name not in BACKENDS]
    if unknown:
        raise UserError(f"unknown parity backend(s) {', '.join(unknown)}: choose from {', '.join(BACKENDS)}")
    if len(set(names)) != len(names) or len(names) < 2:
        raise UserError(f"parity compares two or more different backends, got {', '.join(names) or 'none'}")
    return names


def _litert(kernels):
    def start(data, threads):
        from lanmsff_edge.runtimes.litert import open_interpreter

        interpreter, _, used, delegate_error = open_interpreter(data, threads, kernels=kernels)
        if used != kernels:
            raise BackendError(f"XNNPACK refused the model ({delegate_error})")
        feed = interpreter.get_input_details()[0]["index"]
        outputs = [details["index"] for details in interpreter.get_output_details()]

        def run(x):
            interpreter.set_tensor(feed, x)
            interpreter.invoke()
            return [np.array(interpreter.get_tensor(index), copy=True) for index in outputs]

        return run

    return start


def _tflm(data, threads):
    from lanmsff_edge.runtimes import micro

    missing = micro.unsupported_ops(data)
    if missing:
        raise BackendError(f"TFLite Micro has no kernel for: {', '.join(missing)}")
    try:
        interpreter = micro.load(data, micro.find_arena_size(data) + TFLM_ARENA_MARGIN)
    except micro.MicroAllocationError as error:
        raise BackendError(f"TFLite Micro cannot allocate the model: {error}") from None

    def run(x):
        interpreter.reset()
        return micro.invoke(interpreter, x)

    return run


def _tflm_tree_build(rounding):
    def start(data, threads, tflm=None):
        from lanmsff_edge.firmware_export import host
        from lanmsff_edge.firmware_export import tflm as tflm_tree
        from lanmsff_edge.runtimes import micro

        missing = micro.unsupported_ops(data)
        if missing:
            raise BackendError(f"TFLite Micro has no kernel for: {', '.join(missing)}")
        return host.HostMicro(data, tflm_tree.find_tree(tflm), rounding).invoke

    return start


register_backend("xnnpack", "LiteRT, XNNPACK delegate (LiteRT's default; ops XNNPACK does not take run on the "
                            "optimized builtin kernels)", _litert("auto"))
register_backend("reference", "LiteRT, reference kernels (OpResolverType.BUILTIN_REF)", _litert("reference"))
register_backend("builtin", "LiteRT, optimized builtin kernels, no XNNPACK", _litert("builtin"))
register_backend("tflm", "TFLite Micro on the host, tflite-micro package (reference kernels, double rounding)", _tflm)
register_backend("tflm-single", "TFLite Micro built from the TFLM tree for the host (reference kernels, single "
                                "rounding: TFLITE_SINGLE_ROUNDING=1)", _tflm_tree_build("single"), needs_tree=True)


@dataclass
class ParityResult:
    """Raw outputs per backend (N×C integer arrays; None where it failed), the errors, and the pair table; at
    the logits too (``logits``: the tensor, or None when the model ends in no SOFTMAX)."""

    backends: dict  # name -> {"description", "error"}
    pairs: list
    outputs: dict = field(repr=False, default_factory=dict)
    logits: dict = None  # {"tensor", "index", "scale", "zero_point"}
    logit_pairs: list = field(default_factory=list)
    logit_outputs: dict = field(repr=False, default_factory=dict)

    def to_dict(self):
        logits = None if self.logits is None else {**self.logits, "pairs": self.logit_pairs}
        return {"backends": self.backends, "pairs": self.pairs, "logits": logits}


def run_backend(backend, data, inputs, threads=1, tflm=None):
    """``backend``'s raw outputs for every raw input: one N×C integer array per model output, in order."""
    run = backend.start(data, threads, tflm) if backend.needs_tree else backend.start(data, threads)
    outputs = []
    for count, x in enumerate(inputs, 1):
        result = run(x)
        outputs.append([np.asarray(part).reshape(-1) for part in
                        (result if isinstance(result, (list, tuple)) else [result])])
        if count % 500 == 0:
            LOGGER.info(f"parity: {backend.name} {count}/{len(inputs)} images")
    if not outputs:
        return [np.zeros((0, 0), np.int64)]
    return [np.stack(part).astype(np.int64) for part in zip(*outputs)]


def compare(a, b, output_tensor):
    """One pair: max |a − b| (output steps), images with any difference, top-1 agreement and the images whose
    top-1 differs, and how many images have each largest difference (``images_by_max_diff``). ``a`` and ``b``:
    N×C raw outputs of the same inputs; ``output_tensor``: the model's output (``tflite_graph.TensorInfo``).
    Top-1 is ``argmax`` (the lower class index wins a tie, as a caller reading the raw output would pick it);
    ``top1_differing_max_margin``: where top-1 differs, the widest gap (output steps) between the two classes in
    either run (small: the changes are near-ties between two classes)."""
    a, b = np.asarray(a, np.int64), np.asarray(b, np.int64)
    if a.shape != b.shape:
        raise ValueError(f"outputs of different shapes: {a.shape} and {b.shape}")
    if not len(a):
        return {"images": 0, "max_abs_diff": None, "unit": None, "top1_agreement": None, "images_differing": 0,
                "top1_differing": 0, "top1_differing_max_margin": None, "images_by_max_diff": {}}
    stats = output_parity(list(a), list(b), output_tensor)
    worst = np.abs(a - b).max(axis=1)
    values, counts = np.unique(worst, return_counts=True)
    top_a, top_b = a.argmax(1), b.argmax(1)
    changed = np.nonzero(top_a != top_b)[0]
    rows = np.arange(len(a))
    # how close the two classes were where top-1 changed: their gap in output steps, in whichever run it is wider
    margins = np.maximum(a[rows, top_a] - a[rows, top_b], b[rows, top_b] - b[rows, top_a])[changed]
    return {**stats, "images_differing": int(np.count_nonzero(worst)), "top1_differing": int(len(changed)),
            "top1_differing_max_margin": int(margins.max()) if len(changed) else None,
            "images_by_max_diff": {str(int(v)): int(c) for v, c in zip(values, counts)}}


def pair_table(outputs, output_tensor):
    """``compare`` for every pair of backends that produced outputs, in the order given."""
    names = [name for name, value in outputs.items() if value is not None]
    return [{"a": a, "b": b, **compare(outputs[a], outputs[b], output_tensor)} for a, b in combinations(names, 2)]


def measure(data, inputs, backends=DEFAULT_BACKENDS, threads=1, tflm=None, logits=True):
    """Run ``data`` (an integer ``.tflite`` flatbuffer) on every backend named in ``backends`` for the raw
    ``inputs`` and compare; a backend that cannot run the model is recorded with its error, the others go on.
    ``tflm``: the TFLM tree for the backends built from one (None: ``$TFLM_DIR``); ``logits``: compare the
    SOFTMAX's input too when the model ends in one (each backend runs the model with it as a second output)."""
    from lanmsff_edge.tflite_graph import read_tflite
    from lanmsff_edge.tflite_slice import softmax_input, with_extra_outputs

    graph = read_tflite(data)
    if not graph.outputs or not graph.outputs[0].quantized:
        raise UserError(f"{graph.source}: parity compares integer outputs; this model's output is "
                        f"{graph.outputs[0].dtype if graph.outputs else 'missing'}")
    logit_index = softmax_input(data) if logits else None
    logit_tensor = None if logit_index is None else graph.tensors[logit_index]
    if logit_tensor is not None and not logit_tensor.quantized:
        logit_index = logit_tensor = None
    run_data = data if logit_index is None else with_extra_outputs(data, [logit_index])
    outputs, logit_outputs, described = {}, {}, {}
    for name in backends:
        backend = BACKENDS[name]
        described[name] = {"description": backend.description, "error": None}
        LOGGER.info(f"parity: {name} on {len(inputs)} images")
        try:
            parts = run_backend(backend, run_data, inputs, threads, tflm)
        except (BackendError, UserError) as error:
            parts = [None, None]
            described[name]["error"] = " ".join(str(error).split())
        outputs[name] = parts[0]
        logit_outputs[name] = parts[1] if len(parts) > 1 else None
    result = ParityResult(described, pair_table(outputs, graph.outputs[0]), outputs)
    if logit_tensor is not None:
        result.logits = {"tensor": logit_tensor.name, "index": logit_index, "scale": logit_tensor.scale,
                         "zero_point": logit_tensor.zero_point}
        result.logit_outputs = logit_outputs
        result.logit_pairs = pair_table(logit_outputs, logit_tensor)
    return result


def raw_inputs(model, images):
    """uint8 faces → one raw input per face for a tflite ``bench.models.BenchModel`` (prepared for its input as
    the bench prepares them, then quantized with the input tensor's scale and zero point)."""
    tensor = model.graph.inputs[0]
    batch = quantize_for(tensor, model.inputs(images))
    return [batch[i:i + 1].reshape(tensor.shape) for i in range(len(batch))]
