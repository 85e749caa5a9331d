"""The run folder's ``config.json``: every option of a run, so it can be resumed and reported.

Options fall in two groups: those that define the model and the data it learns (``FIXED``: must be the same on
``--resume``) and those a resumed run may change (more epochs, data moved, another machine/strategy).
"""
import platform

from lanmsff_edge.artifacts.run_folder import CONFIG_NAME, read_config  # noqa: F401 (run.py: cfg.CONFIG_NAME)
from lanmsff_edge.errors import UserError

# Paper IV.B recipe.
LEARNING_RATE = 1e-3
BATCH_SIZE = 32
PLATEAU_FACTOR = 0.1
PLATEAU_PATIENCE = 8
EARLY_STOPPING_PATIENCE = 14
DEFAULT_EPOCHS = {"ferplus": 100, "fer2013": 100, "kdef": 100, "synthetic": 3}

OPTION_DEFAULTS = {
    "epochs": None,  # per data set, DEFAULT_EPOCHS
    "batch_size": BATCH_SIZE,
    "seed": 0,
    "width": 1.0,
    "massatt": True,
    "pwfs": True,
    "massatt_form": "code",
    "fold": None,
    "strategy": "default",
    "augment": "online",
    "limit": None,
    "learning_rate": LEARNING_RATE,
    "bn_recalibration": True,  # see training/batchnorm.py; False = the paper's plain recipe
    "targets": "majority",  # or "votes": FERPlus's vote distribution as soft targets (data/ferplus.py)
    "init": None,  # a model whose weights the run starts from (training/warm_start.py)
    "teacher": None,  # a model whose predictions are mixed into the targets (training/distill.py)
    "teacher_weight": 0.5,  # the teacher's share of the targets
    "dropout": 0.4,  # the rate at the end of each block: the paper's (model/lanmsff.DROPOUT); less for narrow widths
    "label_smoothing": 0.0,  # Keras' categorical label smoothing (0: the paper's plain cross-entropy)
    "schedule": "plateau",  # "plateau": the paper's ×0.1 on val-loss plateaus; "cosine": warm-up, then cosine decay
    "precision": None,  # "float32" or "mixed_bfloat16"; None: precision.py picks what is fast on this machine
}
# What a run from before an option existed was trained with, where that is not the option's default today.
RESUMED_DEFAULTS = {"precision": "float32"}
FIXED = ("dataset", "fold", "width", "massatt", "pwfs", "massatt_form", "limit", "batch_size", "seed", "augment",
         "learning_rate", "targets", "init", "teacher", "teacher_weight", "dropout", "label_smoothing", "schedule",
         "precision")
TARGETS = ("majority", "votes")
SCHEDULES = ("plateau", "cosine")
COSINE_WARMUP_EPOCHS = 2  # linear warm-up before the cosine decay (the warm start's head is new)
COSINE_FLOOR = 0.01  # the cosine ends at this fraction of the initial learning rate


def cosine_warmup(epochs):
    """Warm-up epochs of a cosine run: ``COSINE_WARMUP_EPOCHS``, but no more than a fifth of the run."""
    return min(COSINE_WARMUP_EPOCHS, int(epochs) // 5)


def versions():
    import numpy

    from lanmsff_edge import __version__
    from lanmsff_edge.keras import keras, tf

    return {"lanmsff_edge": __version__, "tensorflow": tf.__version__, "tf_keras": keras.__version__,
            "numpy": numpy.__version__, "python": platform.python_version()}


def read(out):
    """The config.json of the run to resume."""
    return read_config(out, missing_hint="; start it without --resume")


def resolve(given, saved=None):
    """Options for this run: explicit values, then the saved run's (on resume), then the defaults.

    ``given`` maps option → value or None (not given). On resume an explicit value of a FIXED option that
    differs from the saved one is a ``UserError`` naming both values.
    """
    from lanmsff_edge.training.settings import changed_settings, check_augment

    keys = ("dataset", *OPTION_DEFAULTS, "data")
    if saved is not None:
        explicit = {key: value for key, value in given.items() if value is not None}
        started = {**OPTION_DEFAULTS, **RESUMED_DEFAULTS, **saved.get("options", {})}  # newer option: its default
        changed = changed_settings(started, explicit, [key for key in keys if key in explicit and key in FIXED])
        if changed:
            key, old, value = changed[0]
            raise UserError(f"--resume: {key} is {value!r} but the run was started with {old!r} "
                            "(the architecture, data and recipe cannot change; start a new --out instead)")
    options = {}
    for key in keys:
        value = given.get(key)
        if saved is not None and value is None:
            value = saved.get("options", {}).get(key, RESUMED_DEFAULTS.get(key))
        if value is None:
            value = OPTION_DEFAULTS.get(key)
        options[key] = value
    if options["dataset"] is None:
        raise UserError("name the data set to train on (--dataset)")
    if options["epochs"] is None:
        options["epochs"] = DEFAULT_EPOCHS.get(options["dataset"], 100)
    check_augment(options["augment"])
    if options["targets"] not in TARGETS:
        raise UserError(f"unknown --targets {options['targets']!r}: choose one of {', '.join(TARGETS)}")
    if options["targets"] == "votes" and options["dataset"] != "ferplus":
        raise UserError(f"--targets votes needs crowd votes per image: only FERPlus has them, not "
                        f"{options['dataset']}")
    if given.get("teacher_weight") is not None and options["teacher"] is None:
        raise UserError("--teacher-weight is the share of a teacher's predictions in the targets: give --teacher")
    if not 0.0 <= float(options["teacher_weight"]) <= 1.0:
        raise UserError(f"--teacher-weight must be between 0 and 1, got {options['teacher_weight']}")
    if not 0.0 <= float(options["dropout"]) < 1.0:
        raise UserError(f"--dropout must be at least 0 and below 1, got {options['dropout']}")
    if not 0.0 <= float(options["label_smoothing"]) < 1.0:
        raise UserError(f"--label-smoothing must be at least 0 and below 1, got {options['label_smoothing']}")
    if options["schedule"] not in SCHEDULES:
        raise UserError(f"unknown --schedule {options['schedule']!r}: choose one of {', '.join(SCHEDULES)}")
    if options["precision"] is None:
        from lanmsff_edge.training.precision import default_precision

        options["precision"] = default_precision()
    from lanmsff_edge.training.precision import check_precision

    check_precision(options["precision"])
    if int(options["epochs"]) < 1 or int(options["batch_size"]) < 1:
        raise UserError("--epochs and --batch-size must be at least 1")
    return options


def recipe(options):
    targets = {"majority": "one-hot majority label",
               "votes": "FERPlus vote distribution (soft targets); validation on majority labels"}[
        options.get("targets") or "majority"]
    if options.get("teacher") is not None:
        weight = float(options["teacher_weight"])
        targets = (f"{1 - weight:g} × ({targets}) + {weight:g} × the predictions of teacher {options['teacher']} "
                   "on the un-augmented image (offline distillation); validation on majority labels")
    smoothing = float(options.get("label_smoothing") or 0.0)
    schedule = ({"reduce_lr_on_plateau": {"monitor": "val_loss", "factor": PLATEAU_FACTOR,
                                          "patience": PLATEAU_PATIENCE}}
                if (options.get("schedule") or "plateau") == "plateau" else
                {"cosine_decay": {"warmup_epochs": cosine_warmup(options["epochs"]), "epochs": int(options["epochs"]),
                                  "final_fraction": COSINE_FLOOR}})
    return {"bn_recalibration_before_validation": bool(options["bn_recalibration"]), "optimizer": "adam",
            "learning_rate": float(options.get("learning_rate") or LEARNING_RATE),
            "loss": "categorical_crossentropy" + (f", label smoothing {smoothing:g}" if smoothing else ""),
            "targets": targets, "dropout": float(options["dropout"]),
            "precision": options.get("precision") or "float32", **schedule,
            "early_stopping": {"monitor": "val_loss", "patience": EARLY_STOPPING_PATIENCE,
                               "restore_best_weights": True}}
