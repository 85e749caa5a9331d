"""Figures written by the tools: the normalised confusion matrix and a run's training curves, as PNGs.

Uses matplotlib's object API with the Agg canvas directly (no pyplot, no global backend switch), so it works
headless and never changes the backend of a notebook that imports the package.
"""
import numpy as np

from lanmsff_edge.atomic import atomic_path


def _save_png(figure, path):
    figure.tight_layout()
    with atomic_path(path) as temporary:
        figure.savefig(temporary, format="png", bbox_inches="tight")
    return path


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
    return _save_png(figure, path)


def learning_rate_steps(history):
    """Epochs trained at another learning rate than the epoch before (history rows with ``epoch`` and ``lr``)."""
    return [int(now["epoch"]) for before, now in zip(history, history[1:])
            if now.get("lr") not in (None, "") and before.get("lr") not in (None, "")
            and not np.isclose(float(now["lr"]), float(before["lr"]), rtol=1e-3)]


def _lowest_val_loss(rows):
    known = [i for i, row in enumerate(rows) if row.get("val_loss") not in (None, "")]
    return min(known, key=lambda i: float(rows[i]["val_loss"])) if known else None


def save_training_curves_png(history, path, title=None):
    """Loss and accuracy per epoch, train and validation, from a run's history rows (dicts with ``epoch``,
    ``loss``, ``accuracy``, ``val_loss``, ``val_accuracy``, ``lr``; as in ``history.csv``).

    Dotted lines mark the epochs whose learning rate differs from the previous epoch's (the plateau steps), a
    circle the epoch with the lowest validation loss (the one early stopping keeps). Written atomically.
    """
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    rows = [row for row in history if "epoch" in row]
    if not rows:
        raise ValueError("no epochs in the history")
    epochs = [int(row["epoch"]) for row in rows]
    figure = Figure(figsize=(10, 3.8), dpi=110)
    FigureCanvasAgg(figure)
    steps = learning_rate_steps(rows)
    best = _lowest_val_loss(rows)
    for column, (metric, label, scale) in enumerate((("loss", "cross-entropy loss", 1.0),
                                                     ("accuracy", "accuracy (%)", 100.0))):
        axes = figure.add_subplot(1, 2, column + 1)
        for key, name, style in ((metric, "train", "-"), (f"val_{metric}", "validation", "-")):
            points = [(epoch, scale * float(row[key])) for epoch, row in zip(epochs, rows)
                      if row.get(key) not in (None, "")]
            if points:
                axes.plot(*zip(*points), style, label=name, marker=".", markersize=3)
        if best is not None and rows[best].get(f"val_{metric}") not in (None, ""):
            axes.plot(epochs[best], scale * float(rows[best][f"val_{metric}"]), "o", fillstyle="none",
                      markersize=9, color="black", label=f"best val_loss (epoch {epochs[best]})")
        for number, epoch in enumerate(steps):
            axes.axvline(epoch - 0.5, linestyle=":", color="gray", label="learning rate step" if number == 0 else None)
        axes.set_xlabel("epoch")
        axes.set_ylabel(label)
        axes.grid(alpha=0.3)
        axes.legend(fontsize=8)
    if title:
        figure.suptitle(title)
    return _save_png(figure, path)
