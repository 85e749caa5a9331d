"""``--plot``: accuracy against latency and against size, one point per row (latency against size without
accuracy), written with matplotlib's Agg backend."""
from lanmsff_edge.atomic import atomic_path


def _points(report):
    return [r for r in report.results if r.error is None]


def write_plot(report, path):
    import matplotlib

    matplotlib.use("Agg", force=True)
    from matplotlib import pyplot as plt

    rows = _points(report)
    with_accuracy = [r for r in rows if r.accuracy is not None and r.latency is not None]
    if with_accuracy:
        figure, (left, right) = plt.subplots(1, 2, figsize=(11, 4.5))
        panels = [(left, [(r.latency.typical, 100 * r.accuracy, r) for r in with_accuracy], "latency per image (ms)"),
                  (right, [(r.size_bytes / 1024, 100 * r.accuracy, r) for r in rows if r.accuracy is not None],
                   "file size (KB)")]
        for axes, points, xlabel in panels:
            _scatter(axes, points, xlabel, "accuracy (%)")
    else:
        figure, axes = plt.subplots(figsize=(6.5, 4.5))
        points = [(r.size_bytes / 1024, r.latency.typical, r) for r in rows if r.latency is not None and r.size_bytes]
        _scatter(axes, points, "file size (KB)", "latency per image (ms)")
    figure.suptitle(f"lanmsff-edge bench --device {report.device}")
    figure.tight_layout()
    with atomic_path(path) as temporary:
        figure.savefig(temporary, dpi=120, format="png")
    plt.close(figure)


def _scatter(axes, points, xlabel, ylabel):
    for x, y, row in points:
        marker = "*" if row.is_reference else ("s" if row.format == "keras" else "o")
        axes.scatter([x], [y], marker=marker, s=90 if row.is_reference else 50)
        axes.annotate(f"{row.model} ({row.precision})", (x, y), textcoords="offset points", xytext=(5, 4),
                      fontsize=8)
    axes.margins(0.2, 0.1)
    axes.set_xlabel(xlabel)
    axes.set_ylabel(ylabel)
    axes.grid(True, alpha=0.3)
