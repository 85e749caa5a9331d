"""The bench report as a terminal table, Markdown and JSON (schema in ``record.py``).

The terminal table fits ``WIDTH`` (120) columns: the columns of ``DROP_ORDER`` are left out, in that order, while
it is wider, long model names are shortened in the middle, and runtimes become keys (a, b, …) spelled out below;
``wide=True`` (``bench --wide``) and the Markdown file keep every column. Under the table every column shown and
every mark (``*``, ``[n]``, ``(a)``, ``-``) is explained, and the header gives the host's load with a warning when
other processes kept its cores busy (latency then swings 2× and more).
"""
import json
import textwrap

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
    return f"{100 * parity['top1_agreement']:.0f}% / {diff:.2g}{unit}"


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
            ("parity", _mcu_parity)],
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


# What each column means (said under the table for the columns it shows).
COLUMN_HELP = {
    "format": "keras (TensorFlow) or tflite",
    "precision": "weights and activations",
    "params": "parameters",
    "MACs": "multiply-accumulates per image",
    "size": "file size",
    "p50 ms": "median latency of one image (batch 1)",
    "mean±std ms": "mean and standard deviation of the timed runs",
    "p99 ms": "99th-percentile latency",
    "img/s": "images per second, 1000 / mean ms",
    "speed-up": "the float reference's p50 / this row's",
    "smaller": "the float reference's size / this row's",
    "accuracy": "top-1 accuracy on the split named above",
    "vs float −/+ (p)": "images this row gets wrong that the reference got right / the reverse, and the exact "
                        "McNemar p-value (a large p: the difference is within chance)",
    "ID": "information density: accuracy % per million parameters",
    "GPU peak": "peak GPU memory",
    "arena": "smallest TFLite Micro tensor arena that allocates (measured on the host)",
    "flash": "bytes of the model in flash (the .tflite file)",
    "TFLM ops": "whether TFLite Micro has a kernel for every op",
    "parity": "TFLite Micro against LiteRT on the same 8 inputs (the split's first images, or random noise without "
              "--dataset): top-1 agreement / largest output difference",
    "Edge TPU ops": "ops (and share of MACs) the Edge TPU runs",
    "init ms": "interpreter start-up on the phone",
    "peak mem": "peak memory on the phone",
    "runtime": "what ran the row",
    "rt": "the runtime that ran the row (below)",
}
# Left out of the default terminal table, first to last, while it is wider than WIDTH (--wide keeps them); between
# the two groups long model names are shortened to SHORT_NAME characters, after them to SHORTEST_NAME.
DROP_ORDER = ("mean±std ms", "p99 ms", "img/s", "params", "format", "ID", "flash")
DROP_LATER = ("MACs", "smaller", "init ms")
WIDTH = 120
SHORT_NAME, SHORTEST_NAME = 30, 16


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


def _runtime_keys(report):
    """{runtime: "a", …} in row order: the default table names runtimes by key and spells them out below."""
    runtimes = list(dict.fromkeys(row.runtime for row in report.results))
    return {runtime: chr(ord("a") + i) for i, runtime in enumerate(runtimes)}


def _cells(report, wide=True):
    """Header and body; a row with a footnote has its mark ``[n]`` after the model name; columns empty ("-") in
    every row and a runtime every row shares are left out. ``wide=False``: fitted to ``WIDTH`` (see the module
    docstring), runtimes as keys."""
    columns = columns_for(report)
    if _shared_runtime(report):
        columns = columns[:-1]
    elif not wide:
        keys = _runtime_keys(report)
        columns = columns[:-1] + [("rt", lambda r: keys[r.runtime])]
    body = [[c[1](row) for c in columns] for row in report.results]
    keep = [i for i in range(len(columns)) if i == 0 or any(cells[i] != "-" for cells in body)]
    for index, number in _note_numbers(report).items():
        body[index][0] += f" [{number}]"
    header, body = [columns[i][0] for i in keep], [[cells[i] for i in keep] for cells in body]
    if not wide:
        header, body = _fit(header, body)
    return header, body


def _table_width(header, body):
    return sum(max(len(str(x)) for x in column) for column in zip(header, *body)) + 2 * (len(header) - 1)


def _fit(header, body):
    """Leave out columns and shorten long model names until the table fits ``WIDTH`` (``DROP_ORDER``, names to
    ``SHORT_NAME``, ``DROP_LATER``, names to ``SHORTEST_NAME``)."""
    for names, shortest in ((DROP_ORDER, SHORT_NAME), (DROP_LATER, SHORTEST_NAME)):
        for name in names:
            if _table_width(header, body) <= WIDTH:
                return header, body
            if name in header:
                index = header.index(name)
                header = header[:index] + header[index + 1:]
                body = [row[:index] + row[index + 1:] for row in body]
        excess = _table_width(header, body) - WIDTH
        if excess > 0:
            longest = max(len(row[0]) for row in body)
            limit = max(shortest, longest - excess, len(header[0]))
            body = [[_shorten(row[0], limit)] + row[1:] for row in body]
    return header, body


def _shorten(text, limit):
    """``lanmsff_ferp…_int8.tflite [1]``: the middle of a long name cut out, its start and end (the mark) kept."""
    if len(text) <= limit:
        return text
    head = (limit - 1) // 2
    return text[:head] + "…" + text[len(text) - (limit - 1 - head):]


def _legend_lines(report, header, wide=True):
    """What every column shown and every mark means, and (``wide=False``) the runtimes behind the keys."""
    explained = [f"{name}: {COLUMN_HELP[name]}" for name in header[1:] if name in COLUMN_HELP]
    lines = ["columns: " + "; ".join(explained)] if explained else []
    marks = []
    if report.reference is not None:
        marks.append(f"* the float reference ({report.reference.model}, {report.reference.format}) that speed-up "
                     "and smaller compare with")
    if _note_numbers(report):
        marks.append("[n] a note below")
    marks.append("'-' not measured or not applicable")
    lines.append("marks: " + "; ".join(marks))
    if "rt" in header:
        lines += [f"rt {key}: {runtime}" for runtime, key in _runtime_keys(report).items()]
    left_out = [] if wide else [name for name in _cells(report, wide=True)[0] if name not in header + ["runtime"]]
    if left_out:
        lines.append(f"left out to fit {WIDTH} columns: {', '.join(left_out)} (--wide shows every column; --json "
                     "has every figure)")
    return lines


def _footnotes(report):
    lines = []
    numbers = _note_numbers(report)
    for index, row in enumerate(report.results):
        if row.error:
            lines.append(f"[{numbers[index]}] {row.model} ({row.runtime}): ERROR {row.error}")
        for note in row.notes:
            lines.append(f"[{numbers[index]}] {row.model}: {note}")
    return lines


def busy_host(host, threads=1):
    """The warning for a busy host, or None: when the 1-minute load average before the bench leaves fewer idle
    cores than the bench's threads, other processes share its cores and latency can swing 2× and more."""
    load, cores = host.get("load_at_start") or host.get("load_average"), host.get("logical_cores")
    if not load or not cores or load[0] <= cores - max(1, int(threads or 1)):
        return None
    return (f"warning: the host was busy (load {load[0]:.2f} on {cores} cores before the bench): latency figures "
            "can be off by 2× and more; rerun on an idle machine for figures to compare")


def _header_lines(report):
    host, settings = report.host, report.settings
    timing = ("op mapping only, nothing timed" if settings.get("mapping_only") else
              f"{settings.get('threads')} thread(s), batch 1, {settings.get('runs')} runs after "
              f"{settings.get('warmup')} warm-up")
    load = host.get("load_at_start") or host.get("load_average")
    load_text = f", load {load[0]:.2f}" if load else ""
    lines = [f"lanmsff-edge bench --device {report.device}: {timing}, on {host.get('cpu')} "
             f"({host.get('logical_cores')} cores{load_text})",
             f"TensorFlow {host.get('tensorflow') or 'not installed'}, "
             f"LiteRT {host.get('ai_edge_litert') or host.get('tflite_runtime')}"
             f", {host.get('date')}"]
    warning = busy_host(host, settings.get("threads"))
    if warning and not settings.get("mapping_only"):
        lines.append(warning)
    if _shared_runtime(report):
        lines.append(f"runtime (every row): {_shared_runtime(report)}")
    if settings.get("dataset"):
        fold = f" fold {settings['fold']}" if settings.get("fold") else ""
        skipped = f", {settings['skipped']} undecodable left out" if settings.get("skipped") else ""
        lines.append(f"accuracy on {settings['dataset']}{fold} {settings['split']} ({settings['images']} images"
                     f"{skipped})")
    return lines


def _wrapped(lines, width=WIDTH):
    """Prose lines wrapped to ``width`` (continuations indented); blank lines and table rows kept as they are."""
    out = []
    for line in lines:
        if len(line) <= width:
            out.append(line)
        else:
            out += textwrap.wrap(line, width, subsequent_indent="    ", break_on_hyphens=False)
    return out


def _board_lines(report, markdown=False, wide=True):
    """The board fit table; ``wide=False`` names each board by its key (what ``export-firmware --board`` takes)
    so the table fits ``WIDTH``."""
    boards = report.tables.get("boards")
    if not boards:
        return []
    reasons = list(dict.fromkeys(b["reason"] for b in boards if b["reason"]))  # each reason once, as a note
    mark = {reason: f"({chr(ord('a') + i)})" for i, reason in enumerate(reasons)}
    models = list(dict.fromkeys(b["model"] for b in boards))
    header = ["board", "core", "MHz", "RAM", "flash"] + (["model"] if len(models) > 1 else []) + \
        ["fits", "est. ms", "why not"]
    by_key = not wide and "board_key" in boards[0]
    named = (lambda b: b["board_key"]) if by_key else (lambda b: b["board"])
    body = [[named(b), b["core"], str(b["clock_mhz"]), _bytes(b["ram_bytes"]), _bytes(b["flash_bytes"])]
            + ([b["model"]] if len(models) > 1 else [])
            + [b["verdict"], _fixed(b["estimated_latency_ms"], ".1f"), mark.get(b["reason"], "-")] for b in boards]
    excess = _table_width(header, body) - WIDTH
    if by_key and len(models) > 1 and excess > 0:  # the model names give way, as in the main table
        column = header.index("model")
        limit = max(SHORTEST_NAME, max(len(row[column]) for row in body) - excess)
        body = [row[:column] + [_shorten(row[column], limit)] + row[column + 1:] for row in body]
    title = boards[0].get("title", "Board fit (ESTIMATE)") + (f": {models[0]}" if len(models) == 1 else "")
    table = _markdown_table(header, body) if markdown else _text_table(header, body)
    legend = ("board: the key export-firmware --board takes (--wide: the full names); " if by_key else "") + (
        "RAM / flash: the board's on-chip memory; fits: the arena and the model fit on-chip (or with the board's "
        "PSRAM, or in the patches measured with --patches); est. ms: the latency ESTIMATE of the note below; why "
        "not: what is short, in the lettered note")
    notes = [f"{mark[reason]} {reason}" for reason in reasons]
    if markdown:
        return ["", title, ""] + table + ["", legend] + ([""] + [f"- {n}" for n in notes] if notes else [])
    return ["", title] + table + _wrapped([legend] + notes)


def _patch_lines(report, markdown=False):
    rows = report.tables.get("patches")
    if not rows:
        return []
    header = ["model", "patches", "arena", "MACs", "extra MACs", "host TFLM ms", "regions split"]
    body = [[r["model"], str(r["patches"])] + (["error: " + r["error"], "", "", "", ""] if "error" in r else
            [_bytes(r["arena_bytes"]), _count(r["macs"]), f"{100 * r['extra_macs']:+.1f}%",
             _fixed(r["host_tflm_ms"], ".1f"), "; ".join(r["regions"]) or "-"]) for r in rows]
    title = next((r["title"] for r in rows if "title" in r), "Patch-based execution")
    return ["", title] + (_markdown_table(header, body) if markdown else _prose_last(header, body))


def _emulation_lines(report, markdown=False):
    rows = report.tables.get("emulation")
    if not rows:
        return []
    header = ["model", "patches", "core", "golden", "M instr.", "instr./MAC", "arena used", "flash", "RAM",
              "heaviest ops"]
    body = [[r["model"], str(r["patches"]), r["core"], "ERROR", "", "", "", "", "", r["error"]] if "error" in r else
            [r["model"], str(r["patches"]), r["core"],
             "bit-exact" if r["golden_ok"] else f"DIFFERS (max {r['max_diff_lsb']} steps)",
             f"{r['instructions'] / 1e6:,.1f}", f"{r['instructions_per_mac']:.2f}", _bytes(r["arena_used_bytes"]),
             _bytes(r["flash_bytes"]), _bytes(r["ram_bytes"]),
             ", ".join(f"{op} {100 * v['share']:.0f}%" for op, v in list(r["by_op_type"].items())[:3])]
            for r in rows]
    title = next((r["title"] for r in rows if "title" in r), "Emulated Cortex-M")
    return ["", title] + (_markdown_table(header, body) if markdown else _prose_last(header, body))


def _prose_last(header, body):
    """A text table whose last column is free text (regions, heaviest ops): when the table is wider than ``WIDTH``,
    that column is said under it instead, a line per row."""
    if _table_width(header, body) <= WIDTH:
        return _text_table(header, body)
    return _text_table(header[:-1], [row[:-1] for row in body]) + _wrapped(
        [f"{header[-1]}, {row[0]} ({header[1]} {row[1]}): {row[-1]}" for row in body])


def _text_table(header, body):
    widths = [max(len(str(x)) for x in column) for column in zip(header, *body)]
    line = "  ".join(h.ljust(w) for h, w in zip(header, widths))
    rule = "  ".join("-" * w for w in widths)
    return [line.rstrip(), rule] + ["  ".join(str(c).ljust(w) for c, w in zip(row, widths)).rstrip() for row in body]


def _markdown_table(header, body):
    escape = lambda text: str(text).replace("|", "\\|")  # noqa: E731
    lines = ["| " + " | ".join(header) + " |", "|" + "|".join("---" for _ in header) + "|"]
    return lines + ["| " + " | ".join(escape(c) for c in row) + " |" for row in body]


def format_table(report, wide=False):
    """The terminal table (fitted to ``WIDTH`` columns unless ``wide``), what its columns and marks mean, then
    board / patch / emulation tables and the per-row and report notes."""
    header, body = _cells(report, wide=wide)
    table = _text_table(header, body)
    prose = _header_lines(report)
    lines = _wrapped(prose) + [""] + table + _wrapped(_legend_lines(report, header, wide))
    lines += _board_lines(report, wide=wide) + _patch_lines(report) + _emulation_lines(report)
    footnotes = _footnotes(report)
    if footnotes or report.notes:
        lines.append("")
    lines += _wrapped(footnotes + [f"note: {note}" for note in report.notes])
    return "\n".join(lines)


def to_markdown(report):
    header, body = _cells(report)
    lines = ["## lanmsff-edge bench", ""] + [f"{line}  " for line in _header_lines(report)] + [""]
    lines += _markdown_table(header, body) + [""] + [f"{line}  " for line in _legend_lines(report, header)]
    lines += _board_lines(report, markdown=True)
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
