"""Choose how many patches a model needs for an arena budget, measuring each candidate with TFLite Micro.

``variant(data, n)`` is the model with its peak regions in ``n`` row stripes (``patches.split``), its op order
improved, and an offline memory plan embedded (``offline_plan.embed``); ``n`` = 1 keeps the file as it is.
``fit(data, max_arena)`` tries ``n`` = 1 (as it is, then with only the offline plan), 2, … and returns the first
whose measured arena (TFLM's bisection, plus the bundle's margin) is within the budget; when none is, the error names
the smallest arena reached.
"""
import math
import re
from dataclasses import dataclass

from lanmsff_edge.errors import UserError
from lanmsff_edge.log import get_logger
from lanmsff_edge.memory import flatbuffer as fb
from lanmsff_edge.memory import offline_plan, patches, schedule

LOGGER = get_logger(__name__)

_UNITS = {"": 1, "B": 1, "K": 1024, "KB": 1024, "KIB": 1024, "M": 1024 ** 2, "MB": 1024 ** 2, "MIB": 1024 ** 2}


def parse_size(text, option="--max-arena"):
    """``"256KB"``, ``"262144"``, ``"0.25MB"`` → bytes (KB = 1,024 bytes, as memory sizes are quoted)."""
    match = re.fullmatch(r"\s*(\d+(?:\.\d+)?)\s*([A-Za-z]*)\s*", str(text))
    unit = match.group(2).upper() if match else None
    if not match or unit not in _UNITS:
        raise UserError(f"{option} {text!r}: give a size such as 262144, 256KB or 0.25MB")
    value = float(match.group(1)) * _UNITS[unit]
    if value < 1:
        raise UserError(f"{option} {text!r}: must be at least one byte")
    return int(value)


@dataclass(frozen=True)
class Variant:
    patches: int
    data: bytes
    arena: int              # smallest TFLM arena that allocates (host interpreter), bytes
    planned_bytes: int      # activation bytes of the offline plan (0 when unpatched: TFLM plans online)
    macs: int
    regions: tuple          # the regions split, e.g. ("MAX_POOL_2D → 32×32×66", ...)

    def as_dict(self, base_macs=None):
        extra = None if not base_macs else (self.macs - base_macs) / base_macs
        return {"patches": self.patches, "arena_bytes": self.arena, "planned_activation_bytes": self.planned_bytes,
                "macs": self.macs, "extra_macs": extra, "regions": list(self.regions),
                "model_bytes": len(self.data)}


def variant(data, count, plan=False):
    """The model run in ``count`` patches, measured. ``count`` 1 is the file unchanged, or with ``plan`` only
    reordered and given the offline memory plan (TFLM's online planner can leave a third of the arena in gaps:
    MobileNetV1 0.25 at 96 px, 73,728 B planned online for a 55,296 B liveness peak)."""
    from lanmsff_edge.runtimes import micro
    from lanmsff_edge.tflite_graph import read_tflite

    if count == 1 and not plan:
        rewritten, planned, regions = bytes(data), 0, ()
    else:
        rewritten, regions = patches.split(data, count)
        rewritten, planned, _ = offline_plan.embed(rewritten)
    return Variant(count, rewritten, micro.find_arena_size(rewritten), planned, read_tflite(rewritten).macs,
                   tuple(regions))


def parse_margin(text, minimum):
    """``"10%"`` → 10 % of ``minimum``; ``"4096"``, ``"4KB"``/``"4K"`` → bytes. Returns the margin in bytes."""
    value = str(text).strip().upper().replace(" ", "")
    match = re.fullmatch(r"(\d+(?:\.\d+)?)(%|B|K|KB|KIB)?", value)
    if not match:
        raise UserError(f"--arena-margin {text!r}: give a percentage (10%) or a byte count (4096, 8KB)")
    number, unit = float(match.group(1)), match.group(2) or "B"
    if unit == "%":
        if number > 1000:
            raise UserError(f"--arena-margin {text!r}: a percentage above 1000% is surely a mistake")
        return math.ceil(minimum * number / 100.0)
    margin = math.ceil(number * (1024 if unit in ("K", "KB", "KIB") else 1))
    if margin > MAX_MARGIN:
        raise UserError(f"--arena-margin {text!r}: more than {MAX_MARGIN >> 20:,} MB of margin is no "
                        "microcontroller's memory")
    return margin


MAX_MARGIN = 1 << 30  # bytes: the bundle declares the arena as a C int (and no MCU has a GiB of SRAM)


def round_up(value, multiple=16):
    """``value`` rounded up to a multiple of ``multiple`` (a bundle's arena: 16 bytes)."""
    return -(-int(value) // multiple) * multiple


def arena_with_margin(minimum, margin):
    """The arena a bundle would declare: ``minimum`` plus ``margin``, rounded up as export_firmware rounds it."""
    return round_up(minimum + parse_margin(margin, minimum))


# With a budget and no margin asked for, a count fits when its measured arena plus this much fits; the bundle
# then declares the budget itself (or measured + 10 %, if smaller), so the margin is whatever the budget leaves.
# Why so little is enough here: with an offline plan the activations' layout is fixed, and the host figure is
# already high for a 32-bit core (patched LANMSFF: 245,360 B measured on the host, 233,588 B used by TFLM +
# CMSIS-NN on the emulated Cortex-M7).
BUDGET_MARGIN = "2%"


def fit(data, max_arena, margin=None, counts=range(1, patches.MAX_PATCHES + 1)):
    """The first ``Variant`` (fewest patches) whose arena plus ``margin`` (default ``BUDGET_MARGIN``) fits
    ``max_arena`` bytes, and the variants tried. ``UserError`` naming the smallest reachable arena when no count
    fits."""
    margin = margin or BUDGET_MARGIN
    tried = []
    # unchanged first, then only the offline plan, then 2, 3, … patches
    attempts = [(count, plan) for count in counts for plan in ((False, True) if count == 1 else (True,))]
    for count, plan in attempts:
        LOGGER.info(f"trying {count} patch{'es' if count > 1 else ''}"
                    f"{' (offline plan)' if plan and count == 1 else ''}")
        try:
            candidate = variant(data, count, plan)
        except UserError:
            if (count, plan) == (1, False):
                raise
            break  # the model has no (more) region to split at this count
        tried.append(candidate)
        if arena_with_margin(candidate.arena, margin) <= max_arena:
            return candidate, tried
    best = min(tried, key=lambda v: v.arena)
    raise UserError(f"no patch count fits a {max_arena:,}-byte arena: the smallest reachable is "
                    f"{arena_with_margin(best.arena, margin):,} bytes ({best.arena:,} measured + margin {margin}) "
                    f"with {best.patches} patch{'es' if best.patches > 1 else ''}, of which "
                    f"{best.arena - activation_bytes(best):,} are TFLite Micro's own data (tensor and op "
                    f"structs, per-channel quantization); {patches.floor(fb.load(best.data))}")


def activation_bytes(chosen):
    """The activation part of a variant's arena: its offline plan, or (unpatched) the modelled peak."""
    if chosen.planned_bytes:
        return chosen.planned_bytes
    return schedule.liveness(fb.load(chosen.data)).peak_bytes
