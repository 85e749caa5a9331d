"""What quantization cost: one row per variant (accuracy, agreement with Keras, probability error, size, I/O),
as JSON and as a Markdown table."""
import numpy as np

from lanmsff_edge.evaluation import metrics_from_predictions, paired_comparison


def prediction_row(probs, reference, labels, class_names, params=None):
    """Accuracy of ``probs`` and how far they are from the float Keras ``reference`` probabilities."""
    probs = np.asarray(probs, dtype=np.float64)
    reference = np.asarray(reference, dtype=np.float64)
    metrics = metrics_from_predictions(labels, probs, class_names, params=params)
    difference = np.abs(probs - reference)
    versus = paired_comparison(labels, probs.argmax(1), reference.argmax(1)) if len(probs) else None
    return {
        "accuracy": metrics["accuracy"],
        "correct": metrics["correct"],
        "per_class_accuracy": metrics["per_class_accuracy"],
        "agreement": versus["agreement"] if versus else None,
        "vs_keras": versus,
        "max_abs_diff": float(difference.max()) if difference.size else 0.0,
        "mean_abs_diff": float(difference.mean()) if difference.size else 0.0,
    }


def tensor_io(tensor):
    """dtype and quantization of a graph input/output, JSON-ready."""
    return {"dtype": tensor.dtype, "shape": list(tensor.shape), "scale": tensor.scale,
            "zero_point": tensor.zero_point}


def _percent(value):
    return "-" if value is None else f"{100 * value:.2f}"


def _tensor_text(tensor):
    if tensor["scale"] is None:
        return tensor["dtype"]
    return f"{tensor['dtype']} ({tensor['scale']:.6g}, {tensor['zero_point']})"


def _io_text(row):
    """``int8 (scale, zero point) → int8 (…)``: what a caller must feed and read."""
    if "input" not in row:
        return "float32"
    return f"{_tensor_text(row['input'])} → {_tensor_text(row['output'])}"


def change_text(versus):
    """``−12 / +3 (p 0.035)``: images the variant gets wrong that Keras got right, the reverse, and the exact
    McNemar p-value (a large p: the accuracy difference is within chance)."""
    if not versus:
        return "-"
    return f"−{versus['lost']} / +{versus['gained']} (p {versus['p_value']:.2g})"


def _micro_text(row):
    micro = row.get("tflm")
    if not micro:
        return "-"
    return f"yes ({micro['arena_bytes'] / 1024:.0f} KB arena)" if micro["loadable"] else "no"


def markdown_table(report):
    """The comparison table: the Keras reference first, then one line per converted variant."""
    split = report["split"]
    reference = report["reference"]
    lines = [
        f"| variant | accuracy ({split}, %) | Δ vs Keras (pt) | images lost / gained (McNemar p) "
        f"| top-1 agreement (%) | max abs Δp | mean abs Δp | size (KB) | params "
        f"| input → output (scale, zero point) "
        f"| TFLite Micro |",
        "|---|---:|---:|---:|---:|---:|---:|---:|---:|---|---|",
        f"| keras float32 | {_percent(reference['accuracy'])} | - | - | - | - | - | "
        f"{reference['size_bytes'] / 1024:.1f} | {reference['params']:,} | float32 | - |",
    ]
    for row in report["variants"]:
        delta = 100 * (row["accuracy"] - reference["accuracy"])
        lines.append(
            f"| {row['method']} | {_percent(row['accuracy'])} | {delta:+.2f} | {change_text(row.get('vs_keras'))} | "
            f"{_percent(row['agreement'])} | "
            f"{row['max_abs_diff']:.4f} | {row['mean_abs_diff']:.5f} | {row['size_bytes'] / 1024:.1f} | "
            f"{row['params']:,} | {_io_text(row)} | {_micro_text(row)} |")
    return "\n".join(lines + parity_lines(report)) + "\n"


def parity_lines(report):
    """Kernel parity of the int8 variants (``parity``; raw int8 outputs of the same inputs, pairwise), as a
    second table; none when no variant has one."""
    rows = [(row["method"], pair) for row in report["variants"] for pair in (row.get("parity") or {}).get("pairs", [])]
    if not rows:
        return []
    images = next(row["parity"]["images"] for row in report["variants"] if row.get("parity"))
    lines = ["", f"Kernel parity on the first {images} images of {report['split']} (raw int8 outputs; `lanmsff-edge "
                 f"bench --parity` measures a whole split):", "",
             "| variant | pair | max diff (output steps) | images differing | top-1 agreement (%) |",
             "|---|---|---:|---:|---:|"]
    for method, pair in rows:
        lines.append(f"| {method} | {pair['a']} vs {pair['b']} | {pair['max_abs_diff']:g} | "
                     f"{pair['images_differing']} / {pair['images']} | {_percent(pair['top1_agreement'])} |")
    return lines
