"""``--device mcu``: each TFLite model in TFLite Micro on the host, plus a board fit table.

Per model: op coverage (ops TFLM has no kernel for), the smallest tensor arena that allocates (bisection),
flash = model bytes, output parity with LiteRT (max |difference| in output quantization steps, top-1
agreement), the HOST invoke time of the TFLM reference kernels (a host figure, not an MCU one), and for every
board of ``lanmsff_edge.boards``: fits or not, and a latency ESTIMATE from the MAC count at the stated int8
MACs-per-cycle of its core. Keras rows are timed on the host CPU as the float reference.
"""
import numpy as np

from lanmsff_edge import native
from lanmsff_edge.bench.measure import timing_input
from lanmsff_edge.bench.rows import RUNTIME_ERRORS, keras_row, new_row, one_line
from lanmsff_edge.bench.timing import time_calls
from lanmsff_edge.errors import UserError
from lanmsff_edge.log import get_logger
from lanmsff_edge.parity import output_parity
from lanmsff_edge.runtimes.quantization import quantize_for

LOGGER = get_logger(__name__)

PARITY_IMAGES = 8
INTEGER_PRECISIONS = ("int8", "uint8", "int16x8")


def parity_faces(data):
    if data is not None and len(data):
        return data.images[:PARITY_IMAGES]
    return np.random.default_rng(1).integers(0, 256, size=(PARITY_IMAGES, 64, 64), dtype=np.uint8)


def _litert_outputs(model, threads, inputs):
    runtime = model.runtime(threads)
    return [runtime.invoke_raw(x) for x in inputs]


def tflm_row(model, settings):
    from lanmsff_edge.runtimes import micro

    row = new_row(model, f"TFLite Micro {micro.tflm_version()} reference kernels, HOST time (not MCU time)")
    row.compare_speed = False  # host reference kernels say nothing about speed on a microcontroller
    graph = model.graph
    missing = micro.unsupported_ops(graph)
    row.extra.update(flash_bytes=model.size_bytes, arena_bytes=None, tflm_unsupported_ops=missing, parity=None)
    if missing:
        row.error = f"TFLite Micro has no kernel for: {', '.join(missing)}"
        return row
    LOGGER.info(f"{model.name}: searching the smallest TFLite Micro arena")
    try:
        arena = micro.find_arena_size(model.data)
        row.extra["arena_bytes"] = arena
        interpreter = micro.load(model.data, arena)
        source = graph.inputs[0]
        x = quantize_for(source, timing_input(model, settings.data))
        LOGGER.info(f"{model.name}: timing TFLite Micro on the host")
        row.latency = time_calls(lambda: micro.invoke(interpreter, x), settings.runs, settings.warmup)
    except (*RUNTIME_ERRORS, micro.MicroAllocationError) as error:
        row.error = one_line(error)
        return row
    # What follows compares with LiteRT: a file LiteRT refuses (TFLM runs some LiteRT does not load) keeps the
    # TFLite Micro figures measured above, with a note instead of parity and accuracy.
    try:
        inputs = [quantize_for(source, face[None]) for face in model.inputs(parity_faces(settings.data))]
        # LiteRT in a forked child: some files crash it natively (a SIGSEGV on an int16 SVDF) that TFLM runs
        litert = native.isolated(f"{model.name}: LiteRT", _litert_outputs, model, settings.threads, inputs)
        row.extra["parity"] = output_parity([micro.invoke(interpreter, x)[0] for x in inputs], litert,
                                            graph.outputs[0])
        if settings.data is not None:
            runtime = model.runtime(settings.threads)
            from lanmsff_edge.bench.measure import score

            score(row, model, runtime.predict, settings.data)
            row.notes.append("accuracy computed with LiteRT (TFLM parity is in the parity column)")
    except RUNTIME_ERRORS as error:
        reason = one_line(error)
        reason = reason if len(reason) <= 160 else reason[:157].rsplit(" ", 1)[0] + " …"  # LiteRT repeats itself
        row.notes.append(f"LiteRT could not run the file, so no parity with it and no accuracy: {reason}")
    return row


def board_rows(rows, patches=()):
    """The fit table: one entry per (model, board), with the labelled latency ESTIMATE for integer models; where
    the model does not fit but one of its measured patch counts (``--patches``) does, the verdict says so."""
    from lanmsff_edge import boards

    table = []
    for row in rows:
        arena = row.extra.get("arena_bytes")
        if row.format != "tflite" or arena is None:
            continue
        counts = sorted((p for p in patches if p.get("model") == row.model and "arena_bytes" in p),
                        key=lambda p: p["patches"])
        for fit in boards.fit_table(row.extra["flash_bytes"], arena):
            estimate = boards.estimate_latency(row.macs, fit.board) if row.precision in INTEGER_PRECISIONS else None
            verdict, reason, patched = fit.verdict, fit.reason, None
            if not fit.fits:
                patched = next((p for p in counts if p["patches"] > 1 and boards.fits(
                    row.extra["flash_bytes"], p["arena_bytes"], fit.board).fits), None)
                if patched:  # the unpatched arena's shortfall is no reason against it any more
                    verdict, reason = f"fits with {patched['patches']} patches", ""
            table.append({
                "title": "Board fit and latency ESTIMATE (from MACs at an assumed int8 MACs/cycle; not measured)",
                "board": fit.board.name, "board_key": fit.board.key, "core": fit.board.core,
                "clock_mhz": fit.board.clock_mhz,
                "ram_bytes": fit.board.ram, "flash_bytes": fit.board.flash, "model": row.model,
                "precision": row.precision, "verdict": verdict, "fits": fit.fits,
                "fits_with_patches": patched["patches"] if patched else None,
                "arena_only": not fit.fits and fit.flash_needed <= fit.board.flash,
                "reason": reason, "flash_needed": fit.flash_needed,
                "ram_needed": fit.ram_needed,
                "estimated_cycles": None if estimate is None else estimate["cycles"],
                "estimated_latency_ms": None if estimate is None else estimate["ms"],
                "estimate_assumption": None if estimate is None else estimate["assumption"],
            })
    return table


def patch_suggestions(board_table, patches_measured):
    """A note per model that stays off on-chip boards only because of its arena (flash would do) and that no
    measured patch count brought on: patch-based execution shrinks the arena; how to measure it and bundle it."""
    notes = []
    for model in dict.fromkeys(entry["model"] for entry in board_table):
        short = [entry for entry in board_table if entry["model"] == model and entry["arena_only"]
                 and entry["fits_with_patches"] is None and entry["precision"] == "int8"]
        if not short:
            continue
        names = ", ".join(entry["board_key"] for entry in short)
        tried = [p["patches"] for p in patches_measured if p.get("model") == model]
        measure = (f"the patch counts measured ({', '.join(map(str, tried))}) were not enough: try more (up to "
                   "--patches 10)" if tried else "--patches 4 --patches 6 measures the arena in patches")
        notes.append(f"{model}: only its arena keeps it off {len(short)} board(s) ({names}); patch-based "
                     f"execution shrinks the arena: {measure}, and `export-firmware --board {short[0]['board_key']}` "
                     "(or --max-arena SIZE) bundles it with the fewest patches that fit")
    return notes


def estimate_note():
    from lanmsff_edge import boards

    rates = ", ".join(f"{core} {rate:g}" for core, rate in boards.MACS_PER_CYCLE.items())
    return (f"board latency is an ESTIMATE = MACs / (int8 MACs per cycle × clock) with {rates} MAC/cycle "
            f"(optimized kernels); float models get no estimate; flash needed = model + "
            f"~{boards.DEFAULT_CODE_FLASH // 1024} KB code, RAM needed = arena + "
            f"~{boards.DEFAULT_RAM_RESERVE // 1024} KB "
            f"application (lanmsff_edge.boards)")


def patch_rows(models, rows, settings):
    """``--patches``: for each int8 model, a row per patch count: measured TFLM arena, MACs (halo recompute
    included), host time of the TFLM reference kernels, and the variant's bytes for the emulation."""
    from lanmsff_edge.memory import fit
    from lanmsff_edge.runtimes import micro

    table = []
    for model, row in zip(models, rows):
        if row.error or row.format != "tflite" or row.precision != "int8":
            continue
        for count in settings.extra.get("patch_counts") or ():
            LOGGER.info(f"{model.name}: {count} patch(es)")
            try:
                variant = fit.variant(model.data, count)
                interpreter = micro.load(variant.data, variant.arena)
                x = quantize_for(model.graph.inputs[0], timing_input(model, settings.data))
                latency = time_calls(lambda: micro.invoke(interpreter, x), settings.runs, settings.warmup)  # noqa: B023
            except RUNTIME_ERRORS as error:
                table.append({"model": row.model, "patches": count, "error": one_line(error)})
                continue
            table.append({"title": "Patch-based execution (TFLM arena measured on the host; HOST time of the "
                                   "reference kernels)", "model": row.model, "patches": count,
                          "arena_bytes": variant.arena, "macs": variant.macs,
                          "extra_macs": (variant.macs - model.graph.macs) / model.graph.macs,
                          "host_tflm_ms": latency.p50, "regions": list(variant.regions), "_data": variant.data})
    return table


def emulation_rows(models, rows, patches, settings):
    """``--emulate CORE``: each int8 model (and each patch count) built with real TFLM + CMSIS-NN and run on the
    emulated cores; the figures go into the row's ``emulation`` list and a table."""
    import tempfile
    from pathlib import Path

    from lanmsff_edge.firmware_export import emulate, export_firmware

    tree = settings.extra["tflm_tree"]
    variants = [(row.model, 1, model.data) for model, row in zip(models, rows)
                if not row.error and row.format == "tflite" and row.precision in INTEGER_PRECISIONS]
    variants += [(p["model"], p["patches"], p["_data"]) for p in patches if "_data" in p and p["patches"] > 1]
    table = []
    for name, count, data in variants:
        for core in settings.extra["emulate"]:
            LOGGER.info(f"{name}: {count} patch(es) on emulated {core}")
            with tempfile.TemporaryDirectory(prefix="lanmsff-bench-emulate-") as folder:
                model_file = Path(folder) / "model.tflite"
                model_file.write_bytes(data)
                try:
                    export_firmware(model_file, Path(folder) / "bundle", labels=None, tflm=tree,
                                    rounding=settings.extra.get("rounding", "single"))
                    result = emulate.emulate(Path(folder) / "bundle", core, tree)
                except UserError as error:  # this model on this core; the other rows and cores go on
                    message = one_line(error).replace(str(model_file), name)
                    table.append({"model": name, "patches": count, "core": core, "error": message})
                    for row in rows:
                        if row.model == name:
                            row.notes.append(f"emulated {core}: {message}")
                    continue
            figures = result.as_dict()
            figures.pop("ops")
            entry = {"title": "Emulated Cortex-M (real TFLM + CMSIS-NN under QEMU -icount: instructions, not "
                              "cycles)", "model": name, "patches": count, **figures}
            table.append(entry)
            for row in rows:
                if row.model == name:
                    row.extra.setdefault("emulation", []).append({"patches": count, **figures})
    return table


def run(models, settings):
    rows = [keras_row(m, settings) if m.is_keras else tflm_row(m, settings) for m in models]
    notes = ["TFLite Micro rows are HOST timings of the reference kernels on this CPU, not microcontroller "
             "timings, so they get no speed-up; see the board table for the labelled estimate", estimate_note()]
    patches = patch_rows(models, rows, settings)
    tables = {"boards": board_rows(rows, patches)}
    notes += patch_suggestions(tables["boards"], patches)
    if settings.extra.get("emulate"):
        tables["emulation"] = emulation_rows(models, rows, patches, settings)
    if patches:
        for entry in patches:
            entry.pop("_data", None)
        tables["patches"] = patches
    return rows, notes, tables
