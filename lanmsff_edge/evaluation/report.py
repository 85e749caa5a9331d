"""Human-readable reports of evaluations (the paper's table layout)."""
import math


def confusion_title(metrics):
    fold = f" fold {metrics['fold']}" if metrics.get("fold") is not None else ""
    return f"{metrics['dataset']} {metrics['split']}{fold}: accuracy {100 * metrics['accuracy']:.2f} %"


def _fmt(value, spec, missing="-"):
    return missing if value is None or (isinstance(value, float) and math.isnan(value)) else format(value, spec)


def _interval_text(interval):
    if not interval:
        return ""
    low, high = interval
    return f"; 95 % interval {100 * low:.2f}–{100 * high:.2f} %"


def _unseen_line(unseen):
    if not unseen:
        return []
    return [f"accuracy, unseen     {_fmt(None if unseen['accuracy'] is None else 100 * unseen['accuracy'], '.2f')} %  "
            f"({unseen['size']:,} images; {unseen['copies']:,} are pixel copies of {unseen['copies_of']} images)"]


def format_confusion(percent, class_names):
    """The paper's table layout: one row per actual class, % of that row per predicted class."""
    short = [name[:7] for name in class_names]
    lines = ["confusion matrix, % of actual class (rows = actual, columns = predicted)",
             f"{'':<10}" + "".join(f"{name:>8}" for name in short)]
    for name, row in zip(class_names, percent):
        lines.append(f"{name[:10]:<10}" + "".join(f"{value:8.2f}" for value in row))
    return "\n".join(lines)


def format_report(metrics):
    """A human-readable report of one evaluation."""
    fold = f" fold {metrics['fold']}" if metrics.get("fold") is not None else ""
    lines = [
        f"{metrics['dataset']} {metrics['split']}{fold}: {metrics['size']:,} images "
        f"({metrics['skipped']} skipped), model {metrics['model']}",
        f"accuracy             {100 * metrics['accuracy']:.2f} %  ({metrics['correct']:,} / {metrics['size']:,}"
        f"{_interval_text(metrics.get('accuracy_ci95'))})",
        *_unseen_line(metrics.get("unseen")),
        *_tta_lines(metrics.get("tta")),
        *_baseline_lines(metrics.get("vs_baseline"), metrics["accuracy"]),
        f"params               {_fmt(metrics['params'], ',')}",
        f"information density  {_fmt(metrics['information_density'], '.1f')}  (accuracy % per million parameters)",
        "",
        f"{'class':<12}{'acc %':>8}{'images':>8}",
    ]
    for name in metrics["class_names"]:
        accuracy = metrics["per_class_accuracy"][name]
        lines.append(f"{name:<12}{_fmt(None if accuracy is None else 100 * accuracy, '8.2f', '       -')}"
                     f"{metrics['support'][name]:>8}")
    lines += ["", format_confusion(metrics["confusion_matrix_percent"], metrics["class_names"])]
    if metrics.get("pose_accuracy"):
        lines += ["", f"{'pose':<12}{'acc %':>8}{'images':>8}"]
        for name, accuracy in metrics["pose_accuracy"].items():
            lines.append(f"{name:<12}{100 * accuracy:8.2f}{metrics['pose_size'][name]:>8}")
        lines.append(f"pose variance (Var)  {_fmt(metrics['pose_variance'], '.2f')}")
    return "\n".join(lines)


def _tta_lines(tta):
    if not tta:
        return []
    versus = tta["vs_single_crop"]
    return [f"accuracy, TTA {tta['mode']:<6} {100 * tta['accuracy']:.2f} %  ({tta['correct']:,}; mean of "
            f"{tta['views']} views per face, {tta['views']}× the inference cost; {versus['gained']:,} gained / "
            f"{versus['lost']:,} lost against the single crop, McNemar p = {versus['p_value']:.3g}). A "
            "microcontroller runs one view: the single-crop accuracy above is the deployable figure"]


def _baseline_lines(comparison, accuracy):
    if not comparison:
        return []
    difference = 100 * (accuracy - comparison["accuracy"])
    verdict = "a real difference (p < 0.05)" if comparison["p_value"] < 0.05 else "not significant (p ≥ 0.05)"
    return [f"baseline             {100 * comparison['accuracy']:.2f} %  ({comparison['model']}): {difference:+.2f} "
            f"points, {comparison['gained']:,} images gained / {comparison['lost']:,} lost, top-1 agreement "
            f"{100 * comparison['agreement']:.2f} %, McNemar p = {comparison['p_value']:.3g}: {verdict}"]


def format_mean(mean):
    """The summary line block for several models (k-fold cross-validation)."""
    folds = [f for f in mean["folds"] if f is not None]
    what = f"{mean['models']} models" + (f" (folds {', '.join(map(str, folds))})" if folds else "")
    lines = [
        f"mean over {what}, {mean['dataset']} {mean['split']}",
        f"accuracy             {100 * mean['accuracy']:.2f} % ± {100 * mean['accuracy_std']:.2f}",
        f"information density  {_fmt(mean['information_density'], '.1f')}",
    ]
    if mean.get("pose_accuracy"):
        lines.append("pose accuracy %      " + "  ".join(f"{name} {100 * acc:.2f}"
                                                         for name, acc in mean["pose_accuracy"].items()))
        lines.append(f"pose variance (Var)  {_fmt(mean['pose_variance'], '.2f')} mean of runs, "
                     f"{_fmt(mean['pose_variance_of_mean'], '.2f')} of the mean pose accuracies")
    lines += ["", format_confusion(mean["confusion_matrix_percent"], mean["class_names"])]
    return "\n".join(lines)
