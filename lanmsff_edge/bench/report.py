"""The bench report as a terminal table, Markdown and JSON (schema in ``record.py``)."""
import json

from lanmsff_edge.atomic import write_text


def _count(value, unit=""):
    if value is None:
        return "-"
    for factor, suffix in ((1e9, "G"), (1e6, "M"), (1e3, "K")):
        if abs(value) >= factor:
            return f"{value / factor:.1f}{suffix}{unit}"
    return f"{value}{unit}"


def _bytes(value):
    if value is None:
        return "-"
    if value >= 1024 * 1024:
        return f"{value / (1024 * 1024):.2f} MB"
    return f"{value / 1024:.1f} KB"


def _fixed(value, spec, suffix=""):
    return "-" if value is None else f"{value:{spec}}{suffix}"


def _percent(value):
    return "-" if value is None else f"{100 * value:.2f}%"


def _mcu_parity(row):
    """``100% / 1 step``: TFLM against LiteRT, top-1 agreement and the largest output difference with its unit."""
    parity = row.extra.get("parity")
    if not parity:
        return "-"
    diff = parity["max_abs_diff"]
    unit = parity.get("unit", "quantization steps")
    unit = (" step" if diff == 1 else " steps") if unit == "quantization steps" else f" ({unit})"
    return f"{100 * parity['top1_agreement']:.0f}% / {diff:g}{unit}"


def _tflm_ops(row):
    if "tflm_unsupported_ops" not in row.extra:
        return "-"
    missing = row.extra["tflm_unsupported_ops"]
    return "missing " + ",".join(missing) if missing else "all"


def _coral_mapped(row):
    check = row.extra.get("edgetpu")
    if not check:
        return "-"
    source = check.get("compiler") or check.get("check")
    if not source or source.get("ops_total") is None:
        return "-"
    text = f"{source['ops_on_tpu']}/{source['ops_total']} ops"
    macs = source.get("macs_fraction_on_tpu")
    return text + (f", {100 * macs:.0f}% MACs" if macs is not None else "")


def _versus(versus):
    """Images this row gets wrong that the float reference got right / the reverse, and the exact McNemar p."""
    return "-" if not versus else f"−{versus['lost']}/+{versus['gained']} ({versus['p_value']:.2g})"


# Per-device columns: (header, function of a row → text).
EXTRA_COLUMNS = {
    "gpu": [("GPU peak", lambda r: _bytes(r.extra.get("gpu_peak_memory_bytes")))],
    "mcu": [("arena", lambda r: _bytes(r.extra.get("arena_bytes"))),
            ("flash", lambda r: _bytes(r.extra.get("flash_bytes"))),
            ("TFLM ops", _tflm_ops),
            ("parity: top-1 / max |Δ|", _mcu_parity)],
    "coral": [("Edge TPU ops", _coral_mapped)],
    "android": [("init ms", lambda r: _fixed((r.extra.get("android") or {}).get("init_ms"), ".1f")),
                ("peak mem", lambda r: _fixed((r.extra.get("android") or {}).get("peak_memory_mb"), ".1f", " MB"))],
}

BASE_COLUMNS = [
    ("model", lambda r: r.model + (" *" if r.is_reference else "")),
    ("format", lambda r: r.format),
    ("precision", lambda r: r.precision),
    ("params", lambda r: _count(r.params)),
    ("MACs", lambda r: _count(r.macs)),
    ("size", lambda r: _bytes(r.size_bytes)),
    ("p50 ms", lambda r: "error" if r.error else _fixed(r.latency and r.latency.p50, ".3f")),
    ("mean±std ms", lambda r: "-" if r.latency is None else f"{r.latency.mean:.3f}±{r.latency.std:.3f}"),
    ("p99 ms", lambda r: _fixed(r.latency and r.latency.p99, ".3f")),
    ("img/s", lambda r: _fixed(r.latency and r.latency.images_per_s, ".1f")),
    ("speed-up", lambda r: _fixed(r.speedup_vs_float, ".2f", "×")),
    ("smaller", lambda r: _fixed(r.size_ratio_vs_float, ".2f", "×")),
    ("accuracy", lambda r: _percent(r.accuracy)),
    ("vs float −/+ (p)", lambda r: _versus(r.vs_float)),
    ("ID", lambda r: _fixed(r.information_density, ".1f")),
]


def columns_for(report):
    columns = list(BASE_COLUMNS)
    if not any(r.accuracy is not None for r in report.results):
        columns = [c for c in columns if c[0] not in ("accuracy", "vs float −/+ (p)", "ID")]
    elif not any(r.vs_float for r in report.results):
        columns = [c for c in columns if c[0] != "vs float −/+ (p)"]
    return columns + EXTRA_COLUMNS.get(report.device, []) + [("runtime", lambda r: r.runtime)]


def _note_numbers(report):
    """{row index: footnote number} for the rows with an error or notes, numbered 1, 2, … in row order."""
    noted = [index for index, row in enumerate(report.results) if row.error or row.notes]
    return {index: number for number, index in enumerate(noted, 1)}


def _shared_runtime(report):
    """The runtime every row shares (said once above the table instead of in a column), else None."""
    runtimes = {row.runtime for row in report.results}
    return runtimes.pop() if len(runtimes) == 1 else None


def _cells(report):
    """Header and body; a row with a footnote has its mark ``[n]`` after the model name; columns empty ("-") in
    every row and a runtime every row shares are left out."""
    columns = columns_for(report)
    if _shared_runtime(report):
        columns = columns[:-1]
    body = [[c[1](row) for c in columns] for row in report.results]
    keep = [i for i in range(len(columns)) if i == 0 or any(cells[i] != "-" for cells in body)]
    for index, number in _note_numbers(report).items():
        body[index][0] += f" [{number}]"
    return [columns[i][0] for i in keep], [[cells[i] for i in keep] for cells in body]


def _footnotes(report):
    lines = []
    numbers = _note_numbers(report)
    for index, row in enumerate(report.results):
        if row.error:
            lines.append(f"[{numbers[index]}] {row.model} ({row.runtime}): ERROR {row.error}")
        for note in row.notes:
            lines.append(f"[{numbers[index]}] {row.model}: {note}")
    return lines


def _header_lines(report):
    host, settings = report.host, report.settings
    timing = ("op mapping only, nothing timed" if settings.get("mapping_only") else
              f"{settings.get('threads')} thread(s), batch 1, {settings.get('runs')} runs after "
              f"{settings.get('warmup')} warm-up")
    lines = [f"lanmsff-edge bench --device {report.device}: {host.get('cpu')} ({host.get('logical_cores')} cores), "
             f"TensorFlow {host.get('tensorflow')}, LiteRT {host.get('ai_edge_litert') or host.get('tflite_runtime')}, "
             f"{timing}, {host.get('date')}"]
    if _shared_runtime(report):
        lines.append(f"runtime (every row): {_shared_runtime(report)}")
    if settings.get("dataset"):
        fold = f" fold {settings['fold']}" if settings.get("fold") else ""
        skipped = f", {settings['skipped']} undecodable left out" if settings.get("skipped") else ""
        lines.append(f"accuracy on {settings['dataset']}{fold} {settings['split']} ({settings['images']} images"
                     f"{skipped})")
    reference = report.reference
    if reference is not None:
        lines.append(f"speed-up and 'smaller' are against the float reference * ({reference.model}, "
                     f"{reference.format})")
    if any(r.vs_float for r in report.results):
        lines.append("vs float −/+ (p): images a row gets wrong that the reference got right / the reverse, and the "
                     "exact McNemar p-value (a large p: the accuracy difference is within chance)")
    return lines


def _board_lines(report, markdown=False):
    boards = report.tables.get("boards")
    if not boards:
        return []
    reasons = list(dict.fromkeys(b["reason"] for b in boards if b["reason"]))  # each reason once, as a note
    mark = {reason: f"({chr(ord('a') + i)})" for i, reason in enumerate(reasons)}
    header = ["board", "core", "MHz", "RAM", "flash", "model", "fits", "est. ms", "why not"]
    body = [[b["board"], b["core"], str(b["clock_mhz"]), _bytes(b["ram_bytes"]), _bytes(b["flash_bytes"]),
             b["model"], b["verdict"], _fixed(b["estimated_latency_ms"], ".1f"), mark.get(b["reason"], "-")]
            for b in boards]
    title = boards[0].get("title", "Board fit (ESTIMATE)")
    table = _markdown_table(header, body) if markdown else _text_table(header, body)
    notes = [f"{mark[reason]} {reason}" for reason in reasons]
    return ["", title] + table + (["", *notes] if notes else [])


def _patch_lines(report, markdown=False):
    rows = report.tables.get("patches")
    if not rows:
        return []
    header = ["model", "patches", "arena", "MACs", "extra MACs", "host TFLM ms", "regions split"]
    body = [[r["model"], str(r["patches"])] + (["error: " + r["error"], "", "", "", ""] if "error" in r else
            [_bytes(r["arena_bytes"]), _count(r["macs"]), f"{100 * r['extra_macs']:+.1f}%",
             _fixed(r["host_tflm_ms"], ".1f"), "; ".join(r["regions"]) or "-"]) for r in rows]
    title = next((r["title"] for r in rows if "title" in r), "Patch-based execution")
    return ["", title] + (_markdown_table(header, body) if markdown else _text_table(header, body))


def _emulation_lines(report, markdown=False):
    rows = report.tables.get("emulation")
    if not rows:
        return []
    header = ["model", "patches", "core", "golden", "M instr.", "instr./MAC", "arena used", "flash", "RAM",
              "heaviest ops"]
    body = [[r["model"], str(r["patches"]), r["core"],
             "bit-exact" if r["golden_ok"] else f"DIFFERS (max {r['max_diff_lsb']} steps)",
             f"{r['instructions'] / 1e6:,.1f}", f"{r['instructions_per_mac']:.2f}", _bytes(r["arena_used_bytes"]),
             _bytes(r["flash_bytes"]), _bytes(r["ram_bytes"]),
             ", ".join(f"{op} {100 * v['share']:.0f}%" for op, v in list(r["by_op_type"].items())[:3])]
            for r in rows]
    return ["", rows[0]["title"]] + (_markdown_table(header, body) if markdown else _text_table(header, body))


def _text_table(header, body):
    widths = [max(len(str(x)) for x in column) for column in zip(header, *body)]
    line = "  ".join(h.ljust(w) for h, w in zip(header, widths))
    rule = "  ".join("-" * w for w in widths)
    return [line.rstrip(), rule] + ["  ".join(str(c).ljust(w) for c, w in zip(row, widths)).rstrip() for row in body]


def _markdown_table(header, body):
    escape = lambda text: str(text).replace("|", "\\|")  # noqa: E731
    lines = ["| " + " | ".join(header) + " |", "|" + "|".join("---" for _ in header) + "|"]
    return lines + ["| " + " | ".join(escape(c) for c in row) + " |" for row in body]


def format_table(report):
    """The terminal table, then board / per-row notes and the report's notes."""
    header, body = _cells(report)
    lines = _header_lines(report) + [""] + _text_table(header, body) + _board_lines(report)
    lines += _patch_lines(report) + _emulation_lines(report)
    footnotes = _footnotes(report)
    if footnotes or report.notes:
        lines.append("")
    lines += footnotes + [f"note: {note}" for note in report.notes]
    return "\n".join(lines)


def to_markdown(report):
    header, body = _cells(report)
    lines = ["## lanmsff-edge bench", ""] + [f"{line}  " for line in _header_lines(report)] + [""]
    lines += _markdown_table(header, body) + _board_lines(report, markdown=True)
    lines += _patch_lines(report, markdown=True) + _emulation_lines(report, markdown=True)
    footnotes = _footnotes(report) + [f"note: {note}" for note in report.notes]
    if footnotes:
        lines += [""] + [f"- {line}" for line in footnotes]
    return "\n".join(lines) + "\n"


def to_json(report):
    return json.dumps(report.to_dict(), indent=2, ensure_ascii=False) + "\n"


def write_json(report, path):
    write_text(path, to_json(report))


def write_markdown(report, path):
    write_text(path, to_markdown(report))
