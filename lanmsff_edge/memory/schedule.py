"""Operator order, and the activation memory it implies, of a ``.tflite`` model.

TFLite Micro runs ops in the flatbuffer's order and its planner keeps a tensor from the op that writes it to the
last op that reads it, so any topological order computes the same integers but can need a different arena
(Liberis & Lane 2019). ``liveness(model)`` is the simple model of that: the bytes of the tensors alive at each
op (no alignment, no fragmentation, no scratch buffers), useful to see where the peak is and to compare orders;
the arena TFLM really needs is measured (``runtimes.micro.find_arena_size``).

``reorder(model)`` hoists side branches that end in a small tensor: for each op, the ops whose every output
feeds only that op (directly or through one another) are its *exclusive branch*; running the branch right after
its last outside input exists frees the large maps it reads earlier. In LANMSFF these are the PWFS → GAP fusion
paths, which read each block's output but are otherwise needed only by the final concatenation: run where the
converter put them (at the end), they keep block 1's 32×32×66 output alive through all of block 2.
A move is kept only when the modelled peak drops, or stays and the summed live bytes drop.
"""
import itertools
from dataclasses import dataclass

from lanmsff_edge.memory import flatbuffer as fb


@dataclass(frozen=True)
class Liveness:
    live_bytes: tuple   # bytes alive while op i runs (its inputs and outputs included)
    peak_bytes: int
    peak_op: int

    @property
    def area(self):
        return sum(self.live_bytes)


def liveness(model, order=None):
    """Modelled activation bytes alive at each op of subgraph 0 (``order``: op indices, default file order)."""
    graph = model.subgraphs[0]
    order = list(range(len(graph.operators))) if order is None else list(order)
    first, last = {}, {}
    for step, index in enumerate(order):
        op = graph.operators[index]
        for tensor in [*op.inputs, *op.outputs]:
            if tensor < 0 or fb.is_constant(model, graph.tensors[tensor]):
                continue
            first.setdefault(int(tensor), step)
            last[int(tensor)] = step
    for tensor in graph.inputs:
        first[int(tensor)] = 0
    for tensor in graph.outputs:
        last[int(tensor)] = len(order) - 1
    change = [0] * (len(order) + 1)  # +size where a tensor appears, -size after its last step
    for tensor, start in first.items():
        size = fb.tensor_bytes(graph.tensors[tensor])
        change[start] += size
        change[last.get(tensor, start) + 1] -= size
    live = list(itertools.accumulate(change[:len(order)]))
    peak = max(live) if live else 0
    return Liveness(tuple(live), peak, order[live.index(peak)] if live else -1)


# TFLite Micro's arena also holds, for the whole run, per tensor a TfLiteEvalTensor, per op a
# NodeAndRegistration and the kernel's op data, and per (depthwise) convolution its per-channel multipliers and
# shifts (2 × int32 per output channel). Bytes on the 64-bit host (what ``find_arena_size`` measures), fitted to
# its RecordingMicroAllocator report on LANMSFF unpatched (30.6 KB measured, 30.0 KB estimated) and in 6 patches
# (88.9 KB, 90.9 KB); a 32-bit core needs less (pointers are half the size).
EVAL_TENSOR_BYTES, OP_BYTES, PER_CHANNEL_BYTES = 24, 120, 8


def tflm_overhead(model):
    """Estimated bytes TFLM keeps in its arena besides the activations (see ``EVAL_TENSOR_BYTES``): what every
    extra stripe op and tensor costs, which a split must save more than."""
    graph = model.subgraphs[0]
    convolutions = (fb.OP.CONV_2D, fb.OP.DEPTHWISE_CONV_2D)
    channels = sum(int(graph.tensors[op.outputs[0]].shape[-1]) for op in graph.operators
                   if fb.builtin(model, op) in convolutions)
    return EVAL_TENSOR_BYTES * len(graph.tensors) + OP_BYTES * len(graph.operators) + PER_CHANNEL_BYTES * channels


def alive_at(model, op_index):
    """The activation tensors alive while op ``op_index`` runs (file order), largest first."""
    graph = model.subgraphs[0]
    first, last = {int(t): -1 for t in graph.inputs}, {int(t): len(graph.operators) for t in graph.outputs}
    for step, op in enumerate(graph.operators):
        for tensor in [*op.inputs, *op.outputs]:
            if tensor >= 0 and not fb.is_constant(model, graph.tensors[tensor]):
                first.setdefault(int(tensor), step)
                last[int(tensor)] = max(last.get(int(tensor), step), step)
    alive = [t for t, start in first.items() if start <= op_index <= last.get(t, start)]
    return sorted(alive, key=lambda t: -fb.tensor_bytes(graph.tensors[t]))


def _producers(graph):
    return {int(t): i for i, op in enumerate(graph.operators) for t in op.outputs}


def exclusive_branch(graph, index, readers, producers):
    """The ops whose outputs flow only into op ``index`` (through one another), in file order."""
    branch = set()
    frontier = [producers[int(t)] for t in graph.operators[index].inputs if int(t) in producers]
    while frontier:
        candidate = frontier.pop()
        if candidate in branch:
            continue
        outputs = [int(t) for t in graph.operators[candidate].outputs]
        if any(graph_output in outputs for graph_output in map(int, graph.outputs)):
            continue
        if all(reader in branch or reader == index for t in outputs for reader in readers.get(t, [])):
            branch.add(candidate)
            frontier.extend(producers[int(t)] for t in graph.operators[candidate].inputs if int(t) in producers)
    # a branch op reached early through one reader may have another reader outside: re-check to a fixed point
    changed = True
    while changed:
        changed = False
        for candidate in sorted(branch):
            outputs = [int(t) for t in graph.operators[candidate].outputs]
            if not all(r in branch or r == index for t in outputs for r in readers.get(t, [])):
                branch.discard(candidate)
                changed = True
    return sorted(branch)


def _hoisted(order, moving, producers, graph):
    """``order`` with the ops ``moving`` (in their relative order) placed right after the last op that
    produces one of their outside inputs."""
    moving_set = set(moving)
    rest = [i for i in order if i not in moving_set]
    needed = {producers[int(t)] for i in moving for t in graph.operators[i].inputs
              if int(t) in producers and producers[int(t)] not in moving_set}
    position = max((rest.index(p) + 1 for p in needed), default=0)
    block = [i for i in order if i in moving_set]
    return rest[:position] + block + rest[position:]


def reorder(data):
    """``data`` (.tflite bytes) with side branches hoisted where that lowers the modelled peak; returns
    (bytes, the modelled ``Liveness`` before, after). The integers computed do not change."""
    model = fb.load(data)
    graph = model.subgraphs[0]
    readers, producers = fb.consumers(graph), _producers(graph)
    order = list(range(len(graph.operators)))
    before = best = liveness(model, order)
    for index in range(len(graph.operators)):
        branch = exclusive_branch(graph, index, readers, producers)
        if not branch:
            continue
        candidate = _hoisted(order, branch + [index], producers, graph)
        if candidate == order:
            continue
        trial = liveness(model, candidate)
        if (trial.peak_bytes, trial.area) < (best.peak_bytes, best.area):
            order, best = candidate, trial
    if order == list(range(len(graph.operators))):
        return bytes(data), before, before
    graph.operators = [graph.operators[i] for i in order]
    return fb.save(model), before, liveness(model)
