"""The LANMSFF family table: what each width costs in compute, flash and arena, and what it scores.

    python benchmarks/model_family.py --data ../shared/data/ferplus.tar.gz \
        [--model ferplus --model ferplus-w0.5 --model ferplus-w0.25] [--untrained-width 0.5 ...] \
        [--out docs/model_family]

Each ``--model`` is a bundled model name (its float Keras and int8 files are benched; default: every bundled
FERPlus model). ``--untrained-width W`` adds a freshly built LANMSFF of width W, quantized (PTQ) on synthetic
faces: its parameters, MACs, int8 size and arena depend only on its shapes, so those columns are real; its
accuracy would be chance and is not shown. One ``lanmsff-edge bench --device cpu`` run times every model, so
the speed-up column (host int8 on LiteRT/XNNPACK, 1 thread, vs the full-width float Keras model) is a ratio
within one run. The arena is TFLite Micro's on this host: unpatched, and with the fewest patches that fit
256 KB (``lanmsff_edge.memory.fit``, the rule ``export-firmware --max-arena 256KB`` applies).
Writes OUT.md (the table), OUT.json and OUT.png (val accuracy int8 against MACs, point area = unpatched arena).
"""
import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path

import click

BUDGET = 256 * 1024


def _cli():
    """The lanmsff-edge console script beside this Python (the installed project)."""
    script = Path(sys.executable).with_name("lanmsff-edge")
    return [str(script)] if script.exists() else [sys.executable, "-m", "lanmsff_edge.cli"]


def _untrained(width, folder):
    """(.keras path, int8 .tflite path) of an untrained width-``width`` LANMSFF."""
    from lanmsff_edge.data.common import to_model_input
    from lanmsff_edge.data.synthetic import generate
    from lanmsff_edge.keras import keras
    from lanmsff_edge.model import build_model
    from lanmsff_edge.quantize.converter import convert

    keras.utils.set_random_seed(7)
    model = build_model(8, width=width)
    faces = to_model_input(generate("train", size=64, seed=3).images)
    keras_path = folder / f"untrained_w{width:g}.keras"
    model.save(keras_path)
    int8_path = folder / f"untrained_w{width:g}_int8.tflite"
    int8_path.write_bytes(convert(model, "ptq", representative=lambda: ([faces[i:i + 1]] for i in range(len(faces)))))
    return keras_path, int8_path


def _arenas(int8_path):
    """(unpatched arena, patched arena, patches) in bytes, measured with TFLite Micro on this host."""
    from lanmsff_edge.errors import UserError
    from lanmsff_edge.memory import fit

    data = Path(int8_path).read_bytes()
    try:
        chosen, tried = fit.fit(data, BUDGET)  # tries 1 patch first: tried[0] is the unpatched model
    except UserError:
        return fit.variant(data, 1).arena, None, None
    return tried[0].arena, chosen.arena, chosen.patches


def _bundled_ferplus():
    """The installed FERPlus presets (``ferplus``, ``ferplus-w0.5``, …) → their width."""
    from lanmsff_edge.artifacts import presets

    installed = {name for name, _ in presets.available()}
    return {name: float(preset["width"]) for name, preset in presets.PRESETS.items()
            if name in installed and preset["dataset"] == "ferplus"}


def _mb(value):
    return f"{value / 1e6:.1f} M"


def _kb(value):
    return "—" if value is None else f"{value / 1024:,.1f} KB"


def _pct(value):
    return "—" if value is None else f"{100 * value:.2f} %"


@click.command()
@click.option("--data", "data_path", required=True, type=click.Path(exists=True),
              help="FERPlus folder or archive (validation split).")
@click.option("--model", "models", multiple=True, help="Bundled model name (repeatable) [default: all ferplus].")
@click.option("--untrained-width", "widths", multiple=True, type=float,
              help="Also an untrained LANMSFF of this width: cost columns only (repeatable).")
@click.option("--out", default="docs/model_family", show_default=True, help="Output stem (.md, .json, .png).")
@click.option("--runs", default=100, show_default=True, help="Timed runs per model.")
@click.option("--limit", type=click.IntRange(1, None), help="Only the first N validation images (a quick look).")
def main(data_path, models, widths, out, runs, limit):
    out = Path(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    bundled = _bundled_ferplus()
    names = list(models) or list(bundled)
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        from lanmsff_edge.artifacts import presets

        entries = []  # (label, width, keras path, int8 path, trained)
        for name in names:
            if name not in bundled:
                raise click.UsageError(f"--model {name}: not a bundled FERPlus model ({', '.join(bundled)})")
            entries.append((name, bundled[name], str(presets.require(name, "float")),
                            str(presets.require(name, "int8")), True))
        for width in widths:
            keras_path, int8_path = _untrained(width, tmp)
            entries.append((f"untrained w{width:g}", width, str(keras_path), str(int8_path), False))
        command = _cli() + ["bench", "--device", "cpu", "--no-convert", "--runs", str(runs),
                            "--dataset", "ferplus", "--data", str(data_path), "--json", str(tmp / "cpu.json")]
        if limit:
            command += ["--limit", str(limit)]
        for _, _, keras_path, int8_path, _ in entries:
            command += ["--model", keras_path, "--model", int8_path]
        click.echo("running: " + " ".join(command), err=True)
        subprocess.run(command, check=True, env=dict(os.environ, MPLBACKEND="Agg"))
        bench = json.loads((tmp / "cpu.json").read_text())
        rows = {str(Path(row["path"]).resolve()): row for row in bench["results"]}
        table = []
        for label, width, keras_path, int8_path, trained in entries:
            float_row, int8_row = rows[str(Path(keras_path).resolve())], rows[str(Path(int8_path).resolve())]
            arena, patched, patches = _arenas(int8_path)
            table.append({
                "model": label, "width": width, "trained": trained,
                "params": float_row["params"], "macs": int8_row["macs"], "int8_bytes": int8_row["size_bytes"],
                "arena_bytes": arena, "patched_arena_bytes": patched, "patches": patches,
                "int8_speedup_vs_full_float": int8_row["speedup_vs_float"],
                "val_accuracy_float": float_row["accuracy"] if trained else None,
                "val_accuracy_int8": int8_row["accuracy"] if trained else None,
                "information_density_int8": int8_row["information_density"] if trained else None,
            })
    table.sort(key=lambda r: -r["width"])
    record = {"reference": bench["reference"], "host": bench["host"], "settings": bench["settings"],
              "split": _split(bench), "models": table}
    out.with_suffix(".json").write_text(json.dumps(record, indent=2) + "\n")
    out.with_suffix(".md").write_text(_markdown(table, bench) + "\n")
    _plot(table, out.with_suffix(".png"))
    click.echo(_markdown(table, bench))


def _markdown(table, bench):
    lines = ["| model | width | params | MACs | int8 size | arena | arena ≤ 256 KB (patches) | int8 speed-up | "
             "val float | val int8 | density (int8) |",
             "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|"]
    for r in table:
        patched = "—" if r["patched_arena_bytes"] is None else f"{_kb(r['patched_arena_bytes'])} ({r['patches']})"
        speed = "—" if r["int8_speedup_vs_full_float"] is None else f"{r['int8_speedup_vs_full_float']:.2f}×"
        density = "—" if r["information_density_int8"] is None else f"{r['information_density_int8']:.1f}"
        lines.append(f"| {r['model']} | {r['width']:g} | {r['params']:,} | {_mb(r['macs'])} | {_kb(r['int8_bytes'])} "
                     f"| {_kb(r['arena_bytes'])} | {patched} | {speed} | {_pct(r['val_accuracy_float'])} "
                     f"| {_pct(r['val_accuracy_int8'])} | {density} |")
    lines.append(f"\nSpeed-up: host int8 (LiteRT) vs {bench['reference']}, one run; arena: TFLite Micro on the host; "
                 f"accuracy: {_split(bench)}; untrained rows: cost only.")
    return "\n".join(lines)


def _split(bench):
    images = bench["settings"].get("images")
    return f"FERPlus validation ({images:,} images)" if images else "FERPlus validation"


def _plot(table, path):
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    trained = [r for r in table if r["val_accuracy_int8"] is not None]
    figure, axes = plt.subplots(figsize=(6, 4))
    widest = max((r["macs"] for r in trained), default=1)
    for r in trained:
        axes.scatter(r["macs"] / 1e6, 100 * r["val_accuracy_int8"], s=r["arena_bytes"] / 1024, alpha=0.5)
        right_half = r["macs"] > widest / 2  # labels of the right-hand points go to their left, inside the axes
        axes.annotate(f"{r['model']} (arena {r['arena_bytes'] / 1024:.0f} KB)", (r["macs"] / 1e6,
                      100 * r["val_accuracy_int8"]), textcoords="offset points", xytext=(-8 if right_half else 8, 6),
                      ha="right" if right_half else "left", fontsize=8)
    axes.set_xlabel("MACs per face (M)")
    axes.set_ylabel("FERPlus val accuracy, int8 (%)")
    axes.set_title("LANMSFF family (point area = unpatched TFLM arena)")
    axes.grid(alpha=0.3)
    figure.tight_layout()
    figure.savefig(path, dpi=120)
    plt.close(figure)


if __name__ == "__main__":
    main()
