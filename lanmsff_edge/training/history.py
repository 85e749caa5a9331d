"""A fit's history: one row per finished epoch, ``{"epoch": 1, "loss": …, "accuracy": …, "val_loss": …, …}``.

Training and QAT fine-tuning both keep it so, in their checkpoints too; QAT checkpoints written before held a dict of
lists (``{"loss": [...], …}``), which ``rows`` reads as well. ``columns`` is the dict-of-lists view the quantize
report shows.
"""
import csv
import io

HISTORY_COLUMNS = ("epoch", "loss", "accuracy", "val_loss", "val_accuracy", "lr")
HISTORY_NAME = "history.csv"  # in a training run's folder


def row(epoch, logs):
    """The history row of 0-based ``epoch`` from Keras' epoch-end ``logs``."""
    values = {"epoch": epoch + 1, **{key: float(value) for key, value in (logs or {}).items()}}
    if "lr" in values:
        values["lr"] = float(f"{values['lr']:.7g}")  # 0.001, not float32's 0.0010000000474974513
    return values


def rows(history):
    """``history`` as rows: rows stay as they are, a legacy dict of lists becomes one row per epoch."""
    if isinstance(history, dict):
        length = max((len(values) for values in history.values()), default=0)
        return [{"epoch": index + 1, **{key: values[index] for key, values in history.items() if index < len(values)}}
                for index in range(length)]
    return [dict(entry) for entry in history or []]


def columns(history_rows):
    """The rows as ``{"loss": [...], "val_accuracy": [...], …}`` (no epoch column)."""
    result = {}
    for entry in history_rows:
        for key, value in entry.items():
            if key != "epoch":
                result.setdefault(key, []).append(value)
    return result


def to_csv(history_rows):
    """``history.csv`` of a training run: ``HISTORY_COLUMNS``, other keys left out."""
    buffer = io.StringIO()
    writer = csv.DictWriter(buffer, fieldnames=HISTORY_COLUMNS, extrasaction="ignore", lineterminator="\n")
    writer.writeheader()
    writer.writerows(history_rows)
    return buffer.getvalue()


def read_csv(path):
    """The rows of a ``history.csv`` written by ``to_csv``, values as text."""
    with open(path, newline="", encoding="utf-8") as file:
        return list(csv.DictReader(file))
