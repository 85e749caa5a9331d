"""What int8 costs in accuracy: every quantization variant of a trained LANMSFF, judged against the targets.

Targets (issue 3, on a FERPlus-trained model, validation split): QAT int8 within 0.5 point of float, PTQ int8
within 1.5 points, int8 file under 500 KB. The script runs ``lanmsff-edge quantize --method all`` (QAT
fine-tuning, PTQ, fp16, dynamic, float: each converted, checked in TFLite Micro and measured with LiteRT on the
split), prints its table, then one line per target with the measured figure and PASS/FAIL.

    python benchmarks/quantization_accuracy.py --model runs/ferplus/model.keras --dataset ferplus \\
        --data ../shared/data/ferplus.tar.gz [--epochs 3] [--split val] [--out bench_q/] [--json figures.json]

Accuracy is reported on the split it was measured on, with the model, data set and options, so a figure is
never quoted without its source. A model trained on another data set (synthetic, KDEF) gives the same
measurement, but the targets are stated for FERPlus: the script says which one it measured.
"""
import argparse
import json
import sys
import tempfile
from pathlib import Path

QAT_GAP = 0.5  # points
PTQ_GAP = 1.5
INT8_SIZE = 500 * 1024


def targets(report):
    """[(name, measured text, passed)] for the three targets from a quantize report."""
    reference = report["reference"]["accuracy"]
    rows = {row["method"]: row for row in report["variants"]}
    checks = []
    for method, limit in (("qat", QAT_GAP), ("ptq", PTQ_GAP)):
        gap = 100 * (reference - rows[method]["accuracy"])
        checks.append((f"{method.upper()} int8 accuracy within {limit} pt of float",
                       f"{100 * rows[method]['accuracy']:.2f} % vs {100 * reference:.2f} % (gap {gap:+.2f} pt)",
                       gap <= limit))
    size = max(rows["qat"]["size_bytes"], rows["ptq"]["size_bytes"])
    checks.append(("int8 file under 500 KB", f"qat {rows['qat']['size_bytes'] / 1024:.1f} KB, "
                                             f"ptq {rows['ptq']['size_bytes'] / 1024:.1f} KB", size < INT8_SIZE))
    return checks


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", required=True, help="trained LANMSFF .keras (or its run folder)")
    parser.add_argument("--dataset", help="data set of the model (default: the training run's)")
    parser.add_argument("--data", help="data set folder or archive (not needed for synthetic)")
    parser.add_argument("--split", default="val")
    parser.add_argument("--epochs", type=int, default=3, help="QAT fine-tuning epochs")
    parser.add_argument("--learning-rate", type=float, default=5e-5)
    parser.add_argument("--calibration-size", type=int, default=500)
    parser.add_argument("--limit", type=int, help="first N images of each split (quick runs only)")
    parser.add_argument("--out", help="folder for the .tflite files and reports (default: a temporary one)")
    parser.add_argument("--json", help="also write the figures and target verdicts here")
    args = parser.parse_args(argv)

    from lanmsff_edge.errors import UserError
    from lanmsff_edge.quantize import quantize

    folder = Path(args.out) if args.out else Path(tempfile.mkdtemp(prefix="lanmsff_quant_"))
    try:
        report = quantize(args.model, args.dataset, args.data, method="all", out=folder / "lanmsff_int8.tflite",
                          epochs=args.epochs, learning_rate=args.learning_rate,
                          calibration_size=args.calibration_size, split=args.split, limit=args.limit)
    except UserError as error:
        print(f"Error: {error}", file=sys.stderr)
        return 1
    print()
    print(f"model {report['model']} on {report['dataset']} {report['split']} ({report['images']} images"
          f"{', limited' if args.limit else ''}); QAT {args.epochs} epoch(s) at lr {args.learning_rate:g}; "
          f"calibration {report['calibration']['size']} train images")
    print()
    print(report["table"])
    if report["dataset"] != "ferplus":
        print(f"note: the targets are stated for a FERPlus-trained model; this is {report['dataset']}.")
    verdicts = targets(report)
    for name, measured, passed in verdicts:
        print(f"{'PASS' if passed else 'FAIL'}  {name}: {measured}")
    tuned = report["qat"]["fine_tuned_float"]["accuracy"]
    qat_int8 = next(row for row in report["variants"] if row["method"] == "qat")["accuracy"]
    print(f"info  QAT int8 vs its own fine-tuned float weights (the quantization cost alone): "
          f"{100 * qat_int8:.2f} % vs {100 * tuned:.2f} % (gap {100 * (tuned - qat_int8):+.2f} pt)")
    print(f"\nfiles in {folder}")
    if args.json:
        Path(args.json).write_text(json.dumps({
            "model": report["model"], "dataset": report["dataset"], "split": report["split"],
            "images": report["images"], "limit": args.limit, "epochs": args.epochs,
            "reference_accuracy": report["reference"]["accuracy"],
            "qat_fine_tuned_float_accuracy": report["qat"]["fine_tuned_float"]["accuracy"],
            "variants": [{key: row[key] for key in ("method", "accuracy", "agreement", "max_abs_diff",
                                                      "mean_abs_diff", "size_bytes")} for row in report["variants"]],
            "targets": [{"target": n, "measured": m, "passed": p} for n, m, p in verdicts]}, indent=1) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
