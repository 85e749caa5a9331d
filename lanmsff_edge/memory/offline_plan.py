"""An offline memory plan for TensorFlow Lite Micro, stored in the model (``OfflineMemoryAllocation`` metadata).

TFLM's online planner places buffers largest first at the lowest free offset; on a graph of many stripe-sized
buffers that leaves gaps (measured on patched LANMSFF: ~90 KB above the modelled peak). TFLM also accepts
offsets planned ahead of time, as model metadata (tflite-micro ``docs/offline_memory_plan.md``; read by
``AllocationInfoBuilder::GetOfflinePlannedOffsets``): ``[version 1, subgraph 0, tensor count, one offset per
tensor]``, -1 for a tensor TFLM should plan itself. ``plan(model)`` tries several placement orders with the same
first-fit rule and keeps the lowest; the lifetimes are TFLM's own (``micro_allocation_info.cc``: graph inputs
exist from scope 0, op i's outputs from scope i + 1, every tensor until the last scope that reads or writes it).
Kernel scratch buffers (CMSIS-NN) stay online: TFLM fits them into what the plan leaves free.
"""
import random
from dataclasses import dataclass

import numpy as np
from ai_edge_litert import schema_py_generated as schema

from lanmsff_edge.memory import flatbuffer as fb

METADATA_NAME = b"OfflineMemoryAllocation"
from lanmsff_edge.runtimes.micro import ARENA_ALIGNMENT as ALIGNMENT  # noqa: E402  (TFLM's buffer alignment)

ONLINE = -1


@dataclass(frozen=True)
class Buffer:
    tensor: int
    size: int
    first: int
    last: int


def buffers(model):
    """The activation buffers TFLM allocates for subgraph 0, with TFLM's lifetimes (in allocation scopes)."""
    graph = model.subgraphs[0]
    first, last = {}, {}
    for tensor in map(int, graph.inputs):
        first[tensor] = last[tensor] = 0
    for scope, op in enumerate(graph.operators, start=1):
        for tensor in map(int, op.outputs):
            first.setdefault(tensor, scope)
            last[tensor] = scope
        for tensor in map(int, op.inputs):
            if tensor >= 0:
                last[tensor] = scope
    end = len(graph.operators)
    for tensor in map(int, graph.outputs):
        last[tensor] = end  # outputs must survive the whole invoke for the caller to read them
    found = []
    for tensor, start in first.items():
        t = graph.tensors[tensor]
        size = fb.tensor_bytes(t)
        if size and not fb.is_constant(model, t) and not t.isVariable:
            found.append(Buffer(tensor, -(-size // ALIGNMENT) * ALIGNMENT, start, last[tensor]))
    return found


def _first_fit(ordered):
    """Offsets for ``ordered`` buffers, each at the lowest aligned offset free over its whole lifetime."""
    placed, offsets = [], {}
    for buffer in ordered:
        busy = sorted((offsets[b.tensor], offsets[b.tensor] + b.size) for b in placed
                      if b.first <= buffer.last and buffer.first <= b.last)
        offset = 0
        for start, stop in busy:
            if offset + buffer.size <= start:
                break
            offset = max(offset, -(-stop // ALIGNMENT) * ALIGNMENT)
        offsets[buffer.tensor] = offset
        placed.append(buffer)
    peak = max((offsets[b.tensor] + b.size for b in placed), default=0)
    return offsets, peak


ORDERS = {
    "size": lambda b: (-b.size, b.first),                              # TFLM's own order
    "first use": lambda b: (b.first, -b.size),
    "lifetime": lambda b: (-(b.last - b.first), -b.size),
    "size × lifetime": lambda b: (-b.size * (b.last - b.first + 1), b.first),
}


def plan(model, moves=3000, seed=0):
    """(offsets by tensor, planned bytes, how) — first-fit in the best of ``ORDERS``, then a seeded local search
    over the placement order (move one buffer elsewhere in the order, keep the change when the plan is no
    larger): on patched LANMSFF it takes the plan from 221 KB to within a few KB of the liveness bound."""
    found = buffers(model)
    name, key = min(ORDERS.items(), key=lambda item: _first_fit(sorted(found, key=item[1]))[1])
    order = sorted(found, key=key)
    offsets, peak = _first_fit(order)
    rng = random.Random(seed)
    bound = lower_bound(model)
    for _ in range(moves if len(order) > 1 else 0):
        if peak <= bound:
            break  # optimal: nothing alive at once can share memory
        trial = order[:]
        trial.insert(rng.randrange(len(trial)), trial.pop(rng.randrange(len(trial))))
        trial_offsets, trial_peak = _first_fit(trial)
        if trial_peak <= peak:
            order, offsets, peak = trial, trial_offsets, trial_peak
    return offsets, peak, f"first fit by {name}, {moves} local-search moves"


def lower_bound(model):
    """The most bytes alive at one scope: no plan can be smaller."""
    found = buffers(model)
    scopes = range(max((b.last for b in found), default=0) + 1)
    return max((sum(b.size for b in found if b.first <= s <= b.last) for s in scopes), default=0)


def embed(data):
    """``data`` (.tflite bytes) with an offline plan in its metadata (an earlier one replaced).
    Returns (bytes, planned bytes, order name)."""
    model = fb.load(data)
    offsets, peak, name = plan(model)
    graph = model.subgraphs[0]
    values = [1, 0, len(graph.tensors)] + [offsets.get(i, ONLINE) for i in range(len(graph.tensors))]
    buffer = schema.BufferT()
    buffer.data = np.frombuffer(np.asarray(values, dtype=np.int32).tobytes(), dtype=np.uint8).copy()
    metadata = [m for m in (model.metadata or []) if m.name != METADATA_NAME]
    model.buffers.append(buffer)
    entry = schema.MetadataT()
    entry.name = METADATA_NAME
    entry.buffer = len(model.buffers) - 1
    model.metadata = metadata + [entry]
    return fb.save(model), peak, name


def has_plan(data):
    model = fb.load(data)
    return any(m.name == METADATA_NAME for m in (model.metadata or []))
