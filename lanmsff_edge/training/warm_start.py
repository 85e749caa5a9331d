"""``train --init MODEL``: start a run from a trained model's weights (fine-tuning, transfer to new classes).

The run builds its model from its own options, as any run; this module fills it with the weights of ``MODEL``
(a preset such as ``ferplus``, a ``.keras`` file or a training run folder), layer by layer, by layer name. The
classifier head is the one layer allowed to differ: with another class count (FERPlus's 8 → KDEF's 7) it keeps
its fresh initialisation and is learnt. A narrower run (``--width 0.5`` from a full-width model) starts from the
wider model's most important channels (``model.narrow``: structured filter pruning, then the run fine-tunes). Any
other difference means another architecture: a ``UserError`` that names the layer and the options to give.
"""
import hashlib
from pathlib import Path

from lanmsff_edge.errors import UserError
from lanmsff_edge.log import get_logger
from lanmsff_edge.training.history import HISTORY_NAME, read_csv

HEAD = "head_softmax"
ARCHITECTURE_OPTIONS = ("width", "massatt", "pwfs", "massatt_form")
LOGGER = get_logger(__name__)


def resolve_init(reference):
    """``(path, architecture)``: the float model file ``reference`` names and the architecture options of the run
    it came from (a preset's from its card; {} when nothing records them). A TFLite file is a ``UserError``."""
    from lanmsff_edge.artifacts.reference import resolve_model_path, run_config

    path = Path(resolve_model_path(str(reference), bundled_format="float"))
    if path.suffix.lower() == ".tflite":
        raise UserError(f"--init {reference}: {path.name} is a TFLite file; training starts from a Keras model "
                        "(.keras), e.g. the preset's float file")
    options = run_config(path).get("options") or {}
    return path, {key: options[key] for key in ARCHITECTURE_OPTIONS if key in options}


def take_defaults(reference, given):
    """Resolve ``reference`` for a new run and set, in the run's ``given`` options, ``init`` (a preset name as
    given, a path made absolute so a resume from elsewhere finds it) and the architecture options the user left
    out. Returns the model file."""
    path, architecture = resolve_init(reference)
    given["init"] = recorded_name(reference)
    given.update({key: value for key, value in architecture.items() if given.get(key) is None})
    return path


def recorded_name(reference):
    """How config.json names a model the run uses: a preset as given, a path made absolute (a resume from
    elsewhere finds it)."""
    from lanmsff_edge.artifacts import presets

    return str(reference) if presets.is_bundled_name(str(reference)) else str(Path(reference).resolve())


def describe(path):
    """What config.json records of the initial model: its file and content hash, and for a training run's model
    (beside its history.csv) the epochs that run had finished — it may train on later, and a model card's record
    of it stops there."""
    digest = hashlib.sha256(Path(path).read_bytes()).hexdigest()
    record = {"path": str(Path(path).resolve()), "sha256": digest}
    history = Path(path).parent / HISTORY_NAME
    if history.is_file():
        record["epochs_run"] = len(read_csv(history))
    return record


def load_initial_weights(model, source, reference):
    """Copy the weights of ``source`` (a Keras model, or its file) into ``model`` (``reference``: the name the user
    gave, for messages). Returns the number of layers copied; the head is skipped, with a note, when the class
    counts differ."""
    if isinstance(source, (str, Path)):
        from lanmsff_edge.model import load_model

        source = load_model(source)
    narrowed = _narrow_if_wider(model, source, reference)
    if narrowed is not None:
        return narrowed
    layers = {layer.name: layer for layer in source.layers}
    copied = 0
    for layer in model.layers:
        weights = layer.get_weights()
        if not weights:
            continue
        if layer.name not in layers:
            raise _mismatch(reference, model, f"it has no layer {layer.name!r}")
        theirs = layers[layer.name].get_weights()
        shapes, their_shapes = [w.shape for w in weights], [w.shape for w in theirs]
        if shapes != their_shapes:
            if layer.name == HEAD and shapes[0][0] == their_shapes[0][0]:
                _note_fresh_head(reference, their_shapes[0][1], shapes[0][1])
                continue
            raise _mismatch(reference, model, f"layer {layer.name!r} has weights {their_shapes} there but {shapes} "
                                              "in this run's model")
        layer.set_weights(theirs)
        copied += 1
    return copied


def _narrow_if_wider(model, source, reference):
    """When ``source`` is the same architecture at a larger width: fill ``model`` with its most important channels
    and return the number of layers filled; else None (the layer-by-layer copy decides)."""
    from lanmsff_edge.model import narrow

    try:
        theirs, ours = narrow.block_widths_of(source), narrow.block_widths_of(model)
    except UserError:
        return None
    if theirs == ours or any(o > t for o, t in zip(ours, theirs)):
        return None
    narrow.narrow_weights(source, model)  # another ablation: a one-line error naming the options
    LOGGER.info(f"note: --init {reference} is wider (blocks {theirs} → {ours}): each layer keeps its most important "
                "channels (filter L1 norm × BN scale), the run fine-tunes them")
    filled = sum(1 for layer in model.layers if layer.get_weights())
    if source.output_shape[-1] != model.output_shape[-1]:
        _note_fresh_head(reference, source.output_shape[-1], model.output_shape[-1])
        filled -= 1
    return filled


def _note_fresh_head(reference, theirs, ours):
    LOGGER.info(f"note: --init {reference} has {theirs} classes, this data set {ours}: the classifier head starts "
                "fresh")


def _mismatch(reference, model, what):
    return UserError(f"--init {reference}: {what}: another architecture than this run's ({model.name}, "
                     f"{model.count_params():,} parameters); give the --width / --no-massatt / --no-pwfs / "
                     "--massatt-form it was trained with")
