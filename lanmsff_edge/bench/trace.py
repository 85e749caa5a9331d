"""Where two kernel libraries part on an int8 model: every intermediate tensor of both, op by op.

Two measurements per op, over the same raw inputs:

- **cumulative**: the whole model runs in each library with every intermediate kept
  (``experimental_preserve_all_tensors``); the op's output tensors are compared, so a difference an op inherits
  from the ops before it counts here;
- **own**: the op alone (``tflite_slice.single_op_model``) runs in each library on the *same* inputs (the second
  library's intermediates): a difference here is the op's own arithmetic, nothing it inherited.

Per op also: which kernels run it in each set (XNNPACK takes most int8 ops; the rest stay on the builtin
kernels), whether its output is the same constant on every traced image (a dead path: a ReLU that is 0 on every
face makes everything after it constant, and nothing can differ there), the share of output elements pinned at
the type's maximum (a saturated range), and for SOFTMAX / LOGISTIC the most output steps one input step can move
(``steps_per_input_step``; it is how a one-step rounding difference in the logits becomes many output steps).
Where the own outputs of a convolution or fully connected op differ, ``bench.rounding`` says why, element by
element (on the first ``rounding_images`` inputs).

    result = trace(model_bytes, raw_inputs)        # XNNPACK against the reference kernels
    result["first_differing_op"]                    # {"index": 0, "name": "CONV_2D", ...}
"""
from collections import Counter

import numpy as np

from lanmsff_edge.errors import UserError
from lanmsff_edge.log import get_logger

LOGGER = get_logger(__name__)

KERNEL_SETS = {"xnnpack": "auto", "reference": "reference", "builtin": "builtin"}
TREE_SETS = {"tflm-single": "single"}  # TFLite Micro built from a TFLM tree (firmware_export.host), per rounding
ROUNDING_IMAGES = 8


def _delegated(interpreter):
    """True when a delegate (XNNPACK) took the op of a one-op interpreter, None when the runtime cannot say."""
    from lanmsff_edge.tf_private import ops_details

    try:
        details = ops_details(interpreter)
    except Exception:  # a private API of the TFLite interpreter (see tf_private), absent from some builds
        return None
    return None if details is None else any(node["op_name"] == "DELEGATE" for node in details)


def _gain(op, graph):
    """Largest change in output steps that one step on every input of a SOFTMAX (½·s_in/s_out) or a LOGISTIC
    (¼·s_in/s_out) can cause: the slope bounds of the functions."""
    slope = {"SOFTMAX": 0.5, "LOGISTIC": 0.25}.get(op.name)
    source, target = graph.tensors[op.inputs[0]], graph.tensors[op.outputs[0]]
    if slope is None or not (source.quantized and target.quantized):
        return None
    return slope * source.scale / target.scale


class _OpRunner:
    """Op ``op`` alone in one kernel set; ``run(values)`` → its outputs for input tensors taken from ``values``
    (original-model tensor index → array)."""

    def __init__(self, piece, kernels, threads):
        from lanmsff_edge.runtimes.litert import open_interpreter

        self.piece = piece
        self.interpreter, _, self.kernels, _ = open_interpreter(piece.data, threads, kernels=kernels)
        self.delegated = _delegated(self.interpreter) if kernels == "auto" else False
        self._inputs = self.interpreter.get_input_details()
        self._outputs = self.interpreter.get_output_details()

    def run(self, values):
        for detail, index in zip(self._inputs, self.piece.inputs):
            self.interpreter.set_tensor(detail["index"], np.asarray(values[index]).reshape(detail["shape"]))
        self.interpreter.invoke()
        return [np.array(self.interpreter.get_tensor(detail["index"]), copy=True) for detail in self._outputs]


class _TreeRunner:
    """Op ``piece`` alone (``piece=None``: the whole model, every op's outputs exposed) in TFLite Micro built from
    a TFLM tree with ``rounding``; the same ``run`` / ``invoke_raw`` + ``tensor`` as the LiteRT ones."""

    kernels = "TFLite Micro (host build)"
    delegated = False

    def __init__(self, data, graph, tree, rounding, piece=None):
        from lanmsff_edge.firmware_export.host import HostMicro
        from lanmsff_edge.runtimes import micro
        from lanmsff_edge.tflite_slice import with_extra_outputs

        methods = micro.resolver_methods(graph)  # one runner for the whole model and each of its ops alone
        self.piece, self._input = piece, graph.input_indices[0]
        if piece is None:
            outputs = [i for op in graph.ops for i in op.outputs if i not in graph.output_indices]
            self._indices = [*graph.output_indices, *outputs]
            data = with_extra_outputs(data, outputs)
        self._model = HostMicro(data if piece is None else piece.data, tree, rounding, methods)
        self._values = {}

    def run(self, values):
        return self._model.invoke([np.asarray(values[i]) for i in self.piece.inputs])

    def invoke_raw(self, x):
        outputs = self._model.invoke(x)
        self._values = {self._input: np.asarray(x), **dict(zip(self._indices, outputs))}
        return outputs[0]

    def tensor(self, index):
        if index in self._values:
            return self._values[index]
        raise KeyError(index)


class _Whole:
    """Constant tensors (weights) of a tree runner's model come from LiteRT: the runner returns only outputs."""

    def __init__(self, runner, constants):
        self.runner, self.constants = runner, constants
        self.kernels, self.delegate_error = runner.kernels, None

    def invoke_raw(self, x):
        return self.runner.invoke_raw(x)

    def tensor(self, index):
        try:
            return self.runner.tensor(index)
        except KeyError:
            return self.constants.tensor(index)


def _max_diff(first, second):
    return max(int(np.abs(a.astype(np.int64) - b.astype(np.int64)).max()) if a.size else 0
               for a, b in zip(first, second))


class _OpRecord:
    def __init__(self, op, graph, kernels):
        out = graph.tensors[op.outputs[0]]
        self.row = {"index": op.index, "name": op.name, "output": out.name.split(";")[0], "shape": list(out.shape),
                    "scale": out.scale, "zero_point": out.zero_point, "kernels": kernels,
                    "cumulative_max": 0, "cumulative_images": 0, "cumulative_elements": 0, "elements": 0,
                    "own_max": None, "own_images": 0, "constant": True, "constant_value": None,
                    "at_max_fraction": 0.0, "steps_per_input_step": _gain(op, graph)}
        self._at_max, self._first = 0, None
        self._maximum = int(np.iinfo(np.dtype(out.dtype)).max) if out.dtype in ("int8", "uint8", "int16") else None

    def add(self, first, second):
        row = self.row
        difference = _max_diff(first, second)
        row["cumulative_max"] = max(row["cumulative_max"], difference)
        row["cumulative_images"] += difference > 0
        row["cumulative_elements"] += int(sum(np.count_nonzero(a != b) for a, b in zip(first, second)))
        row["elements"] += int(sum(b.size for b in second))
        if self._maximum is not None:
            self._at_max += int(sum(np.count_nonzero(b == self._maximum) for b in second))
        flat = np.concatenate([x.reshape(-1) for x in (*first, *second)])
        if row["constant"]:
            value = int(flat[0]) if flat.size else None
            same = flat.size == 0 or bool(np.all(flat == flat[0]))
            if not same or (self._first is not None and value != self._first):
                row["constant"] = False
            self._first = value
        row["constant_value"] = self._first if row["constant"] else None
        row["at_max_fraction"] = self._at_max / row["elements"] if row["elements"] else 0.0

    def add_own(self, difference):
        row = self.row
        row["own_max"] = max(row["own_max"] or 0, difference)
        row["own_images"] += difference > 0


def _kernels_text(name, runner):
    if runner is None:
        return None
    if name in TREE_SETS:
        return runner.kernels
    if name != "xnnpack":
        return name
    return {True: "XNNPACK", False: "builtin (not delegated)", None: "xnnpack set"}[runner.delegated]


def trace(data, inputs, a="xnnpack", b="reference", threads=1, rounding_images=ROUNDING_IMAGES, tflm=None):
    """Trace ``data`` (an integer ``.tflite`` flatbuffer) in kernel sets ``a`` and ``b`` (names of
    ``KERNEL_SETS``; ``b`` may also be ``tflm-single``, TFLite Micro built from the TFLM tree ``tflm`` with single
    rounding) over the raw ``inputs``; returns a JSON-ready dict (``ops``: a row per op in execution order,
    ``first_differing_op``, ``first_own_difference``, ``by_kind``, ``dead_ops``, ``rounding``, ``growth``)."""
    from lanmsff_edge.bench.rounding import RoundingAnalysis
    from lanmsff_edge.runtimes.litert import LiteRTRuntime
    from lanmsff_edge.tflite_graph import read_tflite
    from lanmsff_edge.tflite_slice import single_op_model

    if a not in KERNEL_SETS or b not in {**KERNEL_SETS, **TREE_SETS}:
        raise UserError(f"--trace compares LiteRT kernel sets ({', '.join(KERNEL_SETS)}) with one another or with "
                        f"{', '.join(TREE_SETS)}, not {a!r} and {b!r}")
    graph = read_tflite(data)
    tree = None
    if b in TREE_SETS:
        from lanmsff_edge.firmware_export import tflm as tflm_tree

        tree = tflm_tree.find_tree(tflm)
    whole = {name: LiteRTRuntime(data, num_threads=threads, kernels=KERNEL_SETS[name], preserve_all_tensors=True)
             for name in (a, b) if name in KERNEL_SETS}
    if tree is not None:
        whole[b] = _Whole(_TreeRunner(data, graph, tree, TREE_SETS[b]), whole[a])
    plain = LiteRTRuntime(data, num_threads=threads, kernels=KERNEL_SETS[a])
    notes = [f"{name}: XNNPACK refused the model ({model.delegate_error}); traced on the builtin kernels"
             for name, model in whole.items() if model.kernels != KERNEL_SETS.get(name, model.kernels)]
    runners, records = [], []
    for op in graph.ops:
        try:
            piece = single_op_model(data, op.index)
            pair = {name: _TreeRunner(data, graph, tree, TREE_SETS[name], piece) if name in TREE_SETS else
                    _OpRunner(piece, KERNEL_SETS[name], threads) for name in (a, b)}
        except (UserError, RuntimeError, ValueError) as error:
            pair = None
            notes.append(f"op {op.index} {op.name} does not run alone ({' '.join(str(error).split())}): no own "
                         "difference measured")
        runners.append(pair)
        records.append(_OpRecord(op, graph, {name: _kernels_text(name, None if pair is None else pair[name])
                                             for name in (a, b)}))
    analysis = RoundingAnalysis(data, graph, a, b)
    rounding = {}
    same_as_plain = 0
    for count, x in enumerate(inputs):
        outputs = {name: model.invoke_raw(x) for name, model in whole.items()}
        same_as_plain += bool(np.array_equal(plain.invoke_raw(x), outputs[a]))
        for op, pair, record in zip(graph.ops, runners, records):
            first = [whole[a].tensor(i) for i in op.outputs]
            second = [whole[b].tensor(i) for i in op.outputs]
            record.add(first, second)
            if pair is None:
                continue
            values = {i: whole[b].tensor(i) for i in op.inputs if i >= 0}
            own = {name: runner.run(values) for name, runner in pair.items()}
            difference = _max_diff(own[a], own[b])
            record.add_own(difference)
            if difference and count < rounding_images and analysis.supports(op):
                counts = rounding.setdefault(op.index, Counter())
                counts.update(analysis.classify(op, values, own[a][0], own[b][0]))
                counts["images"] += 1
        if (count + 1) % 200 == 0:
            LOGGER.info(f"trace: {count + 1}/{len(inputs)} images")
    rows = [record.row for record in records]
    for row in rows:
        if row["index"] in rounding:
            row["rounding"] = dict(rounding[row["index"]])
    return _summary(rows, graph, a, b, len(inputs), same_as_plain, notes, rounding_images)


def _summary(rows, graph, a, b, images, same_as_plain, notes, rounding_images):
    def brief(row):
        return None if row is None else {key: row[key] for key in ("index", "name", "output", "scale",
                                                                   "cumulative_max", "own_max", "kernels")}

    first = next((row for row in rows if row["cumulative_max"] > 0), None)
    first_own = next((row for row in rows if row["own_max"]), None)
    kinds = {}
    for row in rows:
        kind = kinds.setdefault(row["name"], {"ops": 0, "ops_with_own_difference": 0, "own_max": 0,
                                              "cumulative_max": 0, "kernels": Counter()})
        kind["ops"] += 1
        kind["ops_with_own_difference"] += bool(row["own_max"])
        kind["own_max"] = max(kind["own_max"], row["own_max"] or 0)
        kind["cumulative_max"] = max(kind["cumulative_max"], row["cumulative_max"])
        kind["kernels"][str(row["kernels"][a])] += 1
    for kind in kinds.values():
        kind["kernels"] = dict(kind["kernels"])
    totals = Counter()
    for row in rows:
        totals.update({key: value for key, value in row.get("rounding", {}).items() if key != "images"})
    output_rows = [row for row in rows if set(graph.output_indices) & set(graph.ops[row["index"]].outputs)]
    inner = [row for row in rows if row not in output_rows]
    feeding = [row for row in rows if output_rows and graph.ops[row["index"]].outputs[0] in
               graph.ops[output_rows[-1]["index"]].inputs]
    largest = max(inner, key=lambda row: row["cumulative_max"], default=None)
    dead = {row["index"] for row in rows if row["constant"]}
    if largest is not None:
        produced = set(graph.ops[largest["index"]].outputs)
        consumers = [op.index for op in graph.ops if produced & set(op.inputs)]
        largest = {**brief(largest), "consumers": consumers,
                   "consumers_dead": bool(consumers) and set(consumers) <= dead}
    return {
        "a": a, "b": b, "images": images,
        "preserved_run_matches_plain": same_as_plain,
        "first_differing_op": brief(first),
        "first_own_difference": brief(first_own),
        "ops": rows,
        "by_kind": kinds,
        "dead_ops": sorted(dead),
        "saturated_ops": [row["index"] for row in rows if row["at_max_fraction"] > 0.01],
        "propagated_only_ops": [row["index"] for row in rows if row["cumulative_max"] and not row["own_max"]],
        "growth": {"largest_intermediate": largest,
                   "output_input": brief(feeding[-1] if feeding else None),
                   "output": brief(output_rows[-1] if output_rows else None)},
        "rounding": {"images": min(images, rounding_images), **dict(totals)},
        "notes": notes,
    }
