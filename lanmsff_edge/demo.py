"""The whole pipeline in one call, without downloading anything:

synthetic faces → ``train`` → ``quantize --method qat`` (int8) → ``bench`` on cpu and mcu → ``export-firmware``,
then one summary table: float vs int8 accuracy on the synthetic validation split, file sizes, latency ratio,
TFLite Micro arena and the boards the firmware fits. Every step is the library function the CLI command runs;
this module only chains them and reads their reports.

Presets (``PRESETS``), both on the default synthetic splits (2,400 train / 480 val) and without augmentation
(the synthetic faces already vary in pose, position, scale and lighting; without augmentation a few epochs learn
them): ``full`` (the default) trains a half-width LANMSFF for 4 epochs, ``quick`` for 3. Measured on this
project's shared 2-core machine (wall times were 2–3× the CPU time): half width reached 36–41 / 64–69 / 86–93 /
93–99 % validation accuracy after epochs 1–4 over three runs with different initial weights (before training
seeded them); a seeded default demo gave float 98.75 % / int8 99.38 % (QAT fine-tuning without augmentation,
like the training; reruns can still differ a little: TensorFlow's CPU kernels are not bit-reproducible), 4.4×
smaller, about 8× faster than Keras float. Width 0.25 stayed at 35 % after 5 epochs (1,200 images); with
augmentation and 800 images half width was at 23 % after 2 epochs, too little for int8 to have anything to
preserve. The exact published model is ``--width 1`` (3.5× the multiply-accumulates of half width).
"""
import json
from dataclasses import dataclass, replace
from pathlib import Path

from lanmsff_edge.errors import UserError
from lanmsff_edge.log import enabled, get_logger, indented, quieted

DATASET = "synthetic"
LOGGER = get_logger(__name__)


@dataclass(frozen=True)
class DemoSettings:
    width: float = 0.5
    epochs: int = 4
    limit: int | None = None  # first N images of each synthetic split (None: 2400 train / 480 val)
    augment: str = "none"
    qat_epochs: int = 1
    cpu_runs: int = 50
    mcu_runs: int = 3


PRESETS = {
    "full": DemoSettings(),
    "quick": DemoSettings(epochs=3, cpu_runs=20, mcu_runs=1),
}


def settings_for(quick=False, epochs=None, width=None, limit=None):
    """The preset (``quick`` or ``full``) with any explicit value put over it."""
    settings = PRESETS["quick" if quick else "full"]
    changes = {key: value for key, value in dict(epochs=epochs, width=width, limit=limit).items() if value is not None}
    if changes.get("epochs", 1) < 1:
        raise UserError(f"--epochs must be at least 1, got {changes['epochs']}")
    if changes.get("width", 1.0) <= 0:
        raise UserError(f"--width must be positive, got {changes['width']}")
    if changes.get("limit", 1) < 1:
        raise UserError(f"--limit must be at least 1, got {changes['limit']}")
    return replace(settings, **changes)


def free_folder(out):
    """``out`` when it is absent or empty, else the first of ``out2``, ``out3``, … that is (Ultralytics' runs/exp2):
    a rerun never overwrites nor refuses, and every run's artifacts stay."""
    out = Path(out)
    candidate, number = out, 1
    while candidate.exists() and (not candidate.is_dir() or any(candidate.iterdir())):
        number += 1
        candidate = out.with_name(f"{out.name}{number}")
    return candidate


def run_demo(out="demo", settings=None):
    """Run every step into ``out``, or into ``out2``, ``out3``, … when it is occupied (``free_folder``); returns the
    summary dict (its ``out`` is the folder used). Each step's own log lines are indented under its title."""
    import lanmsff_edge.keras  # noqa: F401  every step needs TensorFlow: without it, one error before anything

    settings = settings or PRESETS["full"]
    out = free_folder(out)
    LOGGER.info(f"writing into {out}/")
    try:
        return _run_steps(out, settings)
    except KeyboardInterrupt:
        LOGGER.info(f"demo interrupted; it does not resume: run `lanmsff-edge demo` again (it starts over in a new "
                    f"folder; {out}/ keeps what was written)")
        raise


def _run_steps(out, settings):
    from lanmsff_edge.atomic import write_text
    from lanmsff_edge.bench import run_bench
    from lanmsff_edge.bench.report import write_json
    from lanmsff_edge.firmware_export import export_firmware
    from lanmsff_edge.quantize.pipeline import quantize
    from lanmsff_edge.training import train

    int8_path = out / "lanmsff_int8.tflite"

    LOGGER.info(f"[1/5] training LANMSFF (width {settings.width:g}) on synthetic faces for {settings.epochs} "
                "epoch(s)")
    trained = train(DATASET, out=out / "run", epochs=settings.epochs, width=settings.width, limit=settings.limit,
                    augment=settings.augment, verbose=1 if enabled() else 0)
    model_path = Path(trained["model"])

    LOGGER.info(f"[2/5] quantization-aware training ({settings.qat_epochs} epoch) and int8 conversion")
    with indented():
        quantized = quantize(model_path, dataset=DATASET, method="qat", out=int8_path, epochs=settings.qat_epochs,
                             limit=settings.limit)

    LOGGER.info("[3/5] bench on the host CPU (Keras float vs LiteRT int8, 1 thread)")
    with quieted():  # the bench and firmware steps report through the summary, not progress notes
        cpu = run_bench([model_path, int8_path], device="cpu", threads=1, runs=settings.cpu_runs, dataset=DATASET,
                        split="val", limit=settings.limit, convert=False)
    write_json(cpu, out / "bench_cpu.json")

    LOGGER.info("[4/5] bench in TFLite Micro (arena, parity, board fit)")
    with quieted():
        mcu = run_bench([int8_path], device="mcu", runs=settings.mcu_runs, dataset=DATASET, split="val",
                        limit=settings.limit, convert=False)
    write_json(mcu, out / "bench_mcu.json")

    LOGGER.info("[5/5] TFLite Micro firmware bundle")
    with quieted():
        # the demo needs no TFLM tree, so its golden comes from the tflite-micro package: TFLM's stock double
        # rounding (export-firmware --rounding single --tflm TREE gives the bundle that agrees with a phone)
        bundle = export_firmware(int8_path, out / "firmware", name="lanmsff", rounding="double")

    summary = summarize(settings, trained, quantized, cpu, mcu, bundle, out)
    write_text(out / "summary.json", json.dumps(summary, indent=2) + "\n")
    write_text(out / "summary.md", "\n".join(summary_lines(summary, markdown=True)) + "\n")
    return summary


def _row(report, format_, precision=None):
    for row in report.results:
        if row.format == format_ and (precision is None or row.precision == precision) and row.error is None:
            return row
    raise UserError(f"bench on {report.device} produced no {format_} row: "
                    + "; ".join(f"{r.model}: {r.error}" for r in report.results if r.error))


def summarize(settings, trained, quantized, cpu, mcu, bundle, out):
    """The numbers the demo reports, from the steps' own results (JSON-ready)."""
    float_row, int8_row = _row(cpu, "keras"), _row(cpu, "tflite")
    micro_row = _row(mcu, "tflite")
    fitting = [fit.board.name for fit in bundle.fit if fit.fits]
    return {
        "out": str(out),
        "settings": settings.__dict__,
        "validation": {"dataset": DATASET, "split": "val", "images": cpu.settings.get("images")},
        "float": {"file": float_row.path, "accuracy": float_row.accuracy, "size_bytes": float_row.size_bytes,
                  "latency_ms": float_row.latency_ms, "params": float_row.params,
                  "training_accuracy_at_best_epoch": trained.get("accuracy"),
                  "epochs_run": trained.get("training", {}).get("epochs_run")},
        "int8": {"file": int8_row.path, "accuracy": int8_row.accuracy, "size_bytes": int8_row.size_bytes,
                 "latency_ms": int8_row.latency_ms, "speedup_vs_float": int8_row.speedup_vs_float,
                 "size_ratio_vs_float": int8_row.size_ratio_vs_float,
                 "agreement_with_float": quantized["variants"][0].get("agreement"),
                 "vs_float": int8_row.vs_float},
        "micro": {"arena_bytes": micro_row.extra.get("arena_bytes"), "parity": micro_row.extra.get("parity"),
                  "host_latency_ms": micro_row.latency_ms},
        "firmware": {"folder": str(bundle.out), "files": len(bundle.files), "arena_size": bundle.arena_size,
                     "boards_that_fit": fitting,
                     "boards": [{"board": fit.board.name, "verdict": fit.verdict} for fit in bundle.fit]},
        "runtimes": {"float": float_row.runtime, "int8": int8_row.runtime, "micro": micro_row.runtime},
    }


def _kb(value):
    return "–" if value is None else f"{value / 1024:,.0f} KB"


def _pct(value):
    return "–" if value is None else f"{100 * value:.2f} %"


def _ms(value):
    return "–" if value is None else f"{value:.2f} ms"


def _difference(float_accuracy, int8_accuracy, versus):
    """``+0.62 points (1 lost, 4 gained, p 0.38)``: the change and whether it is more than chance (McNemar)."""
    if None in (float_accuracy, int8_accuracy):
        return "–"
    text = f"{100 * (int8_accuracy - float_accuracy):+.2f} points"
    if versus:
        text += f" ({versus['lost']} lost, {versus['gained']} gained, p {versus['p_value']:.2g})"
    return text


def summary_lines(summary, markdown=False):
    """The summary table (plain text, or Markdown for ``summary.md``)."""
    f, q, m, fw = summary["float"], summary["int8"], summary["micro"], summary["firmware"]
    speedup = "–" if q["speedup_vs_float"] is None else f"{q['speedup_vs_float']:.1f}× faster"
    smaller = "–" if q["size_ratio_vs_float"] is None else f"{q['size_ratio_vs_float']:.1f}× smaller"
    images = summary["validation"]["images"]
    rows = [
        ("", "float (Keras)", "int8 (QAT, LiteRT)", "int8 vs float"),
        (f"accuracy, synthetic val ({images} images)", _pct(f["accuracy"]), _pct(q["accuracy"]),
         _difference(f["accuracy"], q["accuracy"], q.get("vs_float"))),
        ("file size", _kb(f["size_bytes"]), _kb(q["size_bytes"]), smaller),
        ("latency, 1 thread, host CPU (median)", _ms(f["latency_ms"]), _ms(q["latency_ms"]), speedup),
        ("TFLite Micro arena (smallest / bundle)", "", f"{_kb(m['arena_bytes'])} / {_kb(fw['arena_size'])}", ""),
    ]
    if markdown:
        lines = ["| " + " | ".join(rows[0]) + " |", "|" + "---|" * len(rows[0])]
        lines += ["| " + " | ".join(row) + " |" for row in rows[1:]]
    else:
        widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]))]
        lines = ["  ".join(cell.ljust(width) for cell, width in zip(row, widths)).rstrip() for row in rows]
    lines.append("")
    lines.append(f"boards the firmware fits: {', '.join(fw['boards_that_fit']) or 'none'}")
    lines.append(f"firmware bundle: {fw['folder']} ({fw['files']} files); reports: bench_cpu.json, bench_mcu.json, "
                 f"summary.json")
    lines.append("synthetic faces are a smoke test of the pipeline, not a benchmark of expression recognition")
    return lines
