"""Figures written by the tools: the normalised confusion matrix as a PNG.

Uses matplotlib's object API with the Agg canvas directly (no pyplot, no global backend switch), so it works
headless and never changes the backend of a notebook that imports the package.
"""
import numpy as np

from lanmsff_edge.atomic import atomic_path


def save_confusion_png(percent, class_names, path, title=None, counts=None):
    """Write a heat map of a row-normalised confusion matrix (rows = actual, columns = predicted, % of row).

    ``percent`` is C×C in [0, 100]; ``counts`` (optional, C) are the images per actual class, shown in the row
    labels. The file is written atomically.
    """
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    percent = np.asarray(percent, dtype=float)
    size = len(class_names)
    if percent.shape != (size, size):
        raise ValueError(f"confusion matrix of shape {percent.shape} does not match {size} class names")
    figure = Figure(figsize=(1.2 + 0.85 * size, 1.0 + 0.75 * size), dpi=120)
    FigureCanvasAgg(figure)
    axes = figure.add_subplot(1, 1, 1)
    image = axes.imshow(percent, cmap="Blues", vmin=0.0, vmax=100.0)
    figure.colorbar(image, ax=axes, fraction=0.046, pad=0.04, label="% of actual class")
    rows = list(class_names) if counts is None else [f"{n} ({int(c)})" for n, c in zip(class_names, counts)]
    axes.set_xticks(range(size), labels=list(class_names), rotation=45, ha="right")
    axes.set_yticks(range(size), labels=rows)
    axes.set_xlabel("predicted")
    axes.set_ylabel("actual")
    for row in range(size):
        for column in range(size):
            value = percent[row, column]
            axes.text(column, row, f"{value:.1f}", ha="center", va="center", fontsize=8,
                      color="white" if value > 55 else "black")
    if title:
        axes.set_title(title)
    figure.tight_layout()
    with atomic_path(path) as temporary:
        figure.savefig(temporary, format="png", bbox_inches="tight")
    return path
