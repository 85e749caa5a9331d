"""Trained LANMSFF models shipped inside the package (package data), and the Python calls to use them.

    model = pretrained.load("ferplus")               # float Keras model
    tflite = pretrained.load("ferplus", fmt="int8")   # LiteRT runtime: .predict(N×64×64×1 float) -> probabilities
    pretrained.card("ferplus")["class_names"]

Which presets exist, their files and cards: ``lanmsff_edge.artifacts.presets`` (``PRESETS``). This package only
holds the files (``lanmsff_<name>.keras``, ``lanmsff_<name>_int8.tflite``, ``lanmsff_<name>.json``), ``load`` and
``check_accuracy`` (the tests re-measure the cards' accuracies on ../shared/data to prove the shipped files are the
ones the cards describe), and ``package.py``, which makes them from a training run. No library module imports it.
"""
from lanmsff_edge.artifacts.presets import FORMATS, card, class_names, require

__all__ = ["card", "check_accuracy", "class_names", "load"]


def load(name, fmt="float", directory=None, num_threads=None):
    """The float Keras model (``fmt="float"``) or the int8 LiteRT runtime (``fmt="int8"``) of preset ``name``."""
    path = require(name, fmt, directory)
    if fmt == "float":
        from lanmsff_edge.model import load_model

        return load_model(path)
    from lanmsff_edge.runtimes.litert import LiteRTRuntime

    return LiteRTRuntime(path, num_threads=num_threads)


def check_accuracy(name, data, split=None, limit=None, formats=FORMATS, directory=None):
    """``{fmt: accuracy}`` of the installed files of ``name`` on the first ``limit`` images of ``split``.

    ``data``: the data set's archive or folder. Without ``split``/``limit`` the card's ``check`` entry decides.
    """
    from lanmsff_edge.artifacts.presets import PRESETS
    from lanmsff_edge.evaluation import evaluate

    recorded = card(name, directory).get("check", {})
    split = recorded.get("split", "val") if split is None else split
    limit = recorded.get("limit") if limit is None else limit
    dataset = card(name, directory).get("dataset", PRESETS[name]["dataset"])
    return {fmt: evaluate(str(require(name, fmt, directory)), dataset=dataset, data=data, split=split,
                          limit=limit)["accuracy"] for fmt in formats}
