"""``train``: the paper's recipe, resumable epoch by epoch, in a run folder.

A run folder holds ``config.json`` (written first); ``checkpoint.npz``, ``history.csv`` and ``history.png`` (loss
and accuracy curves) after every epoch; and, when the run ends, ``model.keras`` (best weights, no optimizer),
``metrics.json`` and ``confusion.png``.
The initial weights come from ``seed``; a run that starts at epoch e seeds Python, NumPy, TensorFlow and the
shuffle order with ``seed + e``. Runs are reproducible up to TensorFlow's CPU kernels, whose graph-mode gradients
differ in the last bits between processes (so two runs drift apart slowly, and a resumed run is not bit-identical
to one that was never interrupted).
"""
import json
import tempfile
import time
from pathlib import Path

from lanmsff_edge.artifacts import checkpoint as ckpt
from lanmsff_edge.atomic import artifact_group, write_text
from lanmsff_edge.errors import UserError
from lanmsff_edge.log import get_logger
from lanmsff_edge.training import config as cfg

METRICS_NAME = "metrics.json"
CURVES_NAME = "history.png"
LOGGER = get_logger(__name__)


def _prepare_out(out, resume, chief=True):
    """The run folder; a fresh run needs it new or empty, or holding no more than the ``config.json`` of a run that
    stopped before its first epoch ended (it has nothing to resume, so it must not block a retry). A non-chief
    worker never writes it, so it does not check it either (the chief may be filling a shared one already)."""
    out = Path(out)
    if resume:
        if not out.is_dir():
            raise UserError(f"--resume: run folder {out} does not exist")
        return out
    if not chief:
        return out
    if out.exists() and not out.is_dir():
        raise UserError(f"--out {out} is a file, not a run folder: choose another --out")
    if out.exists() and {p.name for p in out.iterdir() if not p.name.startswith(".")} - {cfg.CONFIG_NAME}:
        raise UserError(f"run folder {out} already exists and is not empty: continue it with --resume, "
                        "or choose another --out")
    return out


def _load_data(options, train_images, val_images):
    from lanmsff_edge.data import load_dataset

    if train_images is not None:
        if val_images is None:
            raise UserError("training on in-memory images needs validation images too")
        return train_images, val_images
    name, data = options["dataset"], options["data"]
    if name == "kdef" and options["fold"] is None:
        raise UserError("KDEF is trained per cross-validation fold: give --fold K (1-5); the fold is the "
                        "validation set, the other four are the training set")
    common = dict(fold=options["fold"], limit=options["limit"], seed=options["seed"])
    return load_dataset(name, data, split="train", **common), load_dataset(name, data, split="val", **common)


def _input_pipelines(options, train_images, val_images, distribution, initial_epoch):
    from lanmsff_edge.data import make_tf_dataset
    from lanmsff_edge.training.distribute import shard_by_data
    from lanmsff_edge.training.engine import training_data

    batch = int(options["batch_size"])
    soft = options.get("targets") == "votes" or options.get("teacher") is not None  # distill.py: mixed into votes
    train_data, train_size = training_data(train_images, options["augment"], batch, options["seed"], initial_epoch,
                                           soft_targets=soft)
    val_data = make_tf_dataset(val_images, batch_size=batch)
    if distribution.name == "multiworker":
        train_data, val_data = shard_by_data(train_data), shard_by_data(val_data)
    return train_data, val_data, train_size


def _build(options, num_classes):
    from lanmsff_edge.keras import keras
    from lanmsff_edge.model import build_from_options
    from lanmsff_edge.training.precision import policy

    keras.utils.set_random_seed(int(options["seed"]))  # the initial weights come from the run's seed
    with policy(options["precision"]):
        model = build_from_options(num_classes, options)
    loss = keras.losses.CategoricalCrossentropy(label_smoothing=float(options["label_smoothing"]))
    model.compile(optimizer=keras.optimizers.Adam(options["learning_rate"]), loss=loss, metrics=["accuracy"])
    return model


def _as_float32(model, options):
    """The float32 twin of a mixed-precision model (same weights): what model.keras ships and QAT loads."""
    if options["precision"] == "float32":
        return model
    from lanmsff_edge.model import build_from_options

    twin = build_from_options(int(model.output_shape[-1]), options)
    twin.set_weights(model.get_weights())
    return twin


def _new_config(options, train_images, val_images, distribution, model):
    data = options["data"]
    return {
        "options": {**options, "data": None if data is None else str(Path(data).resolve())},
        "dataset": options["dataset"],
        "data": None if data is None else str(Path(data).resolve()),
        "fold": options["fold"],
        "class_names": list(train_images.class_names),
        "num_classes": int(train_images.num_classes),
        "splits": {"train": {"split": train_images.split, "size": len(train_images), "skipped": train_images.skipped,
                             "class_counts": train_images.class_counts().tolist()},
                   "val": {"split": val_images.split, "size": len(val_images), "skipped": val_images.skipped,
                           "class_counts": val_images.class_counts().tolist()}},
        "recipe": cfg.recipe(options),
        "params": int(model.count_params()),
        "strategy": {"name": distribution.name, "replicas": distribution.replicas},
        "versions": cfg.versions(),
        "created": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
    }


def _check_data_matches(saved, train_images):
    if saved.get("class_names") and list(saved["class_names"]) != list(train_images.class_names):
        raise UserError(f"--resume: the data now has classes {list(train_images.class_names)} but the run was "
                        f"trained on {saved['class_names']}")


def _check_data(train_images, val_images):
    """The data audit of the two splits; each finding is logged as a warning (training goes on: the user decides)."""
    from lanmsff_edge.data.audit import audit

    checks = audit([train_images, val_images])
    for finding in checks["findings"]:
        LOGGER.warning(f"warning: {finding}")
    return checks


def _set_threads(threads):
    if not threads:
        return
    from lanmsff_edge.keras import tf

    try:
        tf.config.threading.set_intra_op_parallelism_threads(int(threads))
        tf.config.threading.set_inter_op_parallelism_threads(min(2, int(threads)))
    except RuntimeError:  # TensorFlow already started in this process: its thread pools are fixed
        LOGGER.info(f"note: TensorFlow is already running in this process; --threads {threads} not applied")


def train(dataset=None, data=None, out=None, epochs=None, batch_size=None, resume=False, seed=None, width=None,
          massatt=None, pwfs=None, fold=None, strategy=None, augment=None, limit=None, massatt_form=None,
          learning_rate=None, bn_recalibration=None, targets=None, init=None, teacher=None, teacher_weight=None,
          dropout=None, label_smoothing=None, schedule=None, precision=None, val=None, callbacks=(), threads=None,
          verbose=1):
    """Train LANMSFF with the paper's recipe (Adam 1e-3, cross-entropy, plateau ×0.1 / 8, early stop 14).

    By default BN statistics are re-estimated with dropout off before each validation (``bn_recalibration``,
    see ``training/batchnorm.py``: it fixes LANMSFF's dropout→BN variance shift without touching a weight).
    ``targets="votes"`` (FERPlus) trains on each image's vote distribution; validation stays on majority labels.
    ``init`` (a preset, model file or run folder) starts from that model's weights (``warm_start.py``); its
    architecture options are the defaults, and a lower ``learning_rate`` (~1e-4) suits fine-tuning.
    ``teacher`` (same kinds) mixes its predictions into the targets with share ``teacher_weight`` (``distill.py``).

    dataset: a data set name (``ferplus``, ``fer2013``, ``kdef``, ``synthetic``) or, for experiments, a
    ``LabeledImages`` training split with ``val`` its validation split. Options left at None take the recipe
    defaults — or, with ``resume=True``, the values of the run in ``out`` (architecture/data options must then
    match; ``epochs`` may grow). ``callbacks`` are extra Keras callbacks (run after the checkpoint writer).
    Returns the validation metrics of the best weights (``evaluate``'s dict plus a ``training`` summary).
    """
    from lanmsff_edge.data.common import LabeledImages

    train_images = dataset if isinstance(dataset, LabeledImages) else None
    given = dict(dataset=train_images.dataset if train_images is not None else dataset, data=data, epochs=epochs,
                 batch_size=batch_size, seed=seed, width=width, massatt=massatt, pwfs=pwfs, fold=fold,
                 strategy=strategy, augment=augment, limit=limit, massatt_form=massatt_form,
                 learning_rate=learning_rate, bn_recalibration=bn_recalibration, targets=targets, init=init,
                 teacher=teacher, teacher_weight=teacher_weight, dropout=dropout, label_smoothing=label_smoothing,
                 schedule=schedule, precision=precision)
    init_path = None
    if init is not None and not resume:
        from lanmsff_edge.training.warm_start import take_defaults

        init_path = take_defaults(init, given)
    if teacher is not None:
        from lanmsff_edge.training.warm_start import recorded_name

        given["teacher"] = recorded_name(teacher)
    if out is None:
        if resume:
            raise UserError("--resume needs the run folder (--out)")
        name = given["dataset"] or "run"
        out = Path("runs") / (name + (f"_fold{fold}" if fold is not None else ""))
    from lanmsff_edge.training.distribute import chief_process

    out = _prepare_out(out, resume, chief=chief_process(given["strategy"] or cfg.OPTION_DEFAULTS["strategy"]))
    saved = cfg.read(out) if resume else None
    options = cfg.resolve(given, saved)

    checkpoint = None
    checkpoint_path = out / ckpt.CHECKPOINT_NAME
    if resume and checkpoint_path.exists():
        checkpoint = ckpt.load(checkpoint_path)
        finished = _finished_message(checkpoint, options["epochs"], out)
        if finished and (out / METRICS_NAME).exists() and (out / "model.keras").exists():
            LOGGER.info(finished)
            return _finished_metrics(out / METRICS_NAME)

    _set_threads(threads)
    from lanmsff_edge.training.distribute import make_distribution

    distribution = make_distribution(options["strategy"])
    if distribution.note:
        LOGGER.info(f"note: {distribution.note}")
    initial = None  # the model to start from: loaded before the data, so a bad file fails at once
    if checkpoint is None and options["init"] is not None:
        from lanmsff_edge.model import load_model
        from lanmsff_edge.training.warm_start import resolve_init

        if init_path is None:  # resumed before its first epoch ended
            init_path, _ = resolve_init(options["init"])
        initial = load_model(init_path)
    teacher_record = _teacher_record(options, saved)  # before the data: a missing or changed teacher fails at once
    train_images, val_images = _load_data(options, train_images, val)
    if saved is not None:
        _check_data_matches(saved, train_images)
    data_checks = _check_data(train_images, val_images)
    if teacher_record is not None:
        from lanmsff_edge.training.distill import with_teacher

        train_images = with_teacher(train_images, options["teacher"], options["teacher_weight"],
                                    soft_base=options["targets"] == "votes", path=teacher_record["path"])

    with distribution.strategy.scope():
        model = _build(options, train_images.num_classes)
        if checkpoint is not None:
            ckpt.restore(model, checkpoint, checkpoint_path)
        elif initial is not None:
            from lanmsff_edge.training.warm_start import load_initial_weights

            copied = load_initial_weights(model, initial, options["init"])
            LOGGER.info(f"starting from {options['init']} ({init_path}): weights of {copied} layers")

    run_config = {**_new_config(options, train_images, val_images, distribution, model), "data_checks": data_checks}
    if saved is not None:
        run_config.update(created=saved.get("created"), resumed=time.strftime("%Y-%m-%dT%H:%M:%S%z"))
    if checkpoint is not None and "init" in (saved or {}):  # the model it started from, not today's file
        run_config["init"] = saved["init"]
    elif init_path is not None:  # a new run, or a resume before its first epoch ended: loaded just now
        from lanmsff_edge.training.warm_start import describe

        run_config["init"] = {"model": str(options["init"]), **describe(init_path)}
    if teacher_record is not None:
        run_config["teacher"] = teacher_record
    if distribution.is_chief:
        write_text(out / cfg.CONFIG_NAME, json.dumps(run_config, indent=2) + "\n")

    finished = checkpoint is not None and _finished_message(checkpoint, options["epochs"], out)
    if finished:
        LOGGER.info(f"{finished}; writing its final files")
        model.set_weights(checkpoint.best())
        state = dict(checkpoint.state, seed=options["seed"])
    else:
        state = _fit(model, options, train_images, val_images, distribution, checkpoint, out, callbacks, verbose)
    return _finish(model, val_images, state, out, distribution, options)


def _teacher_record(options, saved):
    """What config.json records of the run's teacher (None without one); on resume the teacher must be the file
    the run started with, by content."""
    if options.get("teacher") is None:
        return None
    from lanmsff_edge.training.distill import resolve_teacher
    from lanmsff_edge.training.warm_start import describe

    record = {"model": str(options["teacher"]), **describe(resolve_teacher(options["teacher"]))}
    started = (saved or {}).get("teacher")
    if started and started.get("sha256") != record["sha256"]:
        raise UserError(f"--resume: the teacher {options['teacher']} is not the file the run started with "
                        f"(sha256 {record['sha256'][:12]}…, was {started['sha256'][:12]}…); start a new --out")
    return record


def _finished_message(checkpoint, epochs, out):
    """Why a checkpointed run has nothing left to do, or None when it should continue."""
    state, best = checkpoint.state, checkpoint.best_epoch
    if state.get("stopped_early"):
        return f"run {out} already finished: early stopping at epoch {checkpoint.epoch} (best epoch {best})"
    if checkpoint.epoch >= int(epochs):
        return f"run {out} already finished all {checkpoint.epoch} epochs (best epoch {best}); " \
               "give a larger --epochs to train on"
    return None


def _fit(model, options, train_images, val_images, distribution, checkpoint, out, extra_callbacks, verbose):
    """Epochs ``checkpoint.epoch + 1 … epochs`` through the fit engine; returns the state after the last one."""
    from lanmsff_edge.training import engine
    from lanmsff_edge.training.batchnorm import BatchNormRecalibration, recalibration_sample
    from lanmsff_edge.training.callbacks import (
        ResumableEarlyStopping,
        ResumablePlateau,
        cosine_schedule,
        schedule_status,
    )

    initial_epoch, state = engine.start(checkpoint, options["seed"], {"seed": options["seed"]})
    train_data, val_data, train_size = _input_pipelines(options, train_images, val_images, distribution,
                                                        initial_epoch)
    plateau = None if options["schedule"] != "plateau" else ResumablePlateau(
        monitor="val_loss", factor=cfg.PLATEAU_FACTOR, patience=cfg.PLATEAU_PATIENCE, verbose=0,
        state=state.get("plateau"))
    stopper = ResumableEarlyStopping(monitor="val_loss", patience=cfg.EARLY_STOPPING_PATIENCE,
                                     restore_best_weights=True, verbose=0, state=state.get("early_stopping"),
                                     best_weights=None if checkpoint is None else checkpoint.best())
    chief = distribution.is_chief
    recorder = engine.FitRecorder(
        state, path=out / ckpt.CHECKPOINT_NAME, best=stopper, write=chief,
        state_of=lambda model: {"plateau": plateau and plateau.get_state(), "early_stopping": stopper.get_state(),
                                "stopped_early": bool(model.stop_training)},
        files=lambda state: _write_history(out, state),
        status=lambda epoch, row: schedule_status(epoch, plateau, stopper, saved=chief),
        announce=bool(verbose) and chief)
    trackers = [plateau or cosine_schedule(options), stopper]
    if options["bn_recalibration"]:
        trackers.insert(0, BatchNormRecalibration(recalibration_sample(train_images, seed=int(options["seed"]))))
    epochs = int(options["epochs"])
    what = "resuming" if initial_epoch else "training"
    LOGGER.info(f"{what} {model.name} ({model.count_params():,} params) on {options['dataset']}: {train_size:,} "
                f"train / {len(val_images):,} val images, batch {options['batch_size']}, augment "
                f"{options['augment']}, epochs {initial_epoch + 1}..{epochs} (early stopping) → {out}")
    try:
        engine.run(model, train_data, val_data=val_data, epochs=epochs, initial_epoch=initial_epoch,
                   recorder=recorder, trackers=trackers, callbacks=extra_callbacks, verbose=verbose)
    except KeyboardInterrupt:
        LOGGER.info(f"\ninterrupted after {state['epoch']} finished epoch(s), saved in {out / ckpt.CHECKPOINT_NAME}")
        raise
    if state["epoch"] == initial_epoch:
        raise UserError("training ran no epoch (is the training split empty?)")
    model.set_weights(stopper.best_weights if stopper.best_weights is not None else model.get_weights())
    return state


def _write_history(out, state):
    """``history.csv`` and the curves ``history.png``: written with the checkpoint, in its artifact group."""
    from lanmsff_edge.plots import save_training_curves_png
    from lanmsff_edge.training.history import HISTORY_NAME, to_csv

    write_text(out / HISTORY_NAME, to_csv(state["history"]))
    save_training_curves_png(state["history"], out / CURVES_NAME, title=f"{out.name}: epoch {state['epoch']}")


def _finish(model, val_images, state, out, distribution, options):
    from lanmsff_edge.evaluation import evaluate
    from lanmsff_edge.model import save_model

    model = _as_float32(model, options)
    early = state.get("early_stopping", {})
    summary = {"epochs_run": int(state["epoch"]), "best_epoch": int(early.get("best_epoch", 0)) + 1,
               "best_val_loss": float(early["best"]) if "best" in early else None,
               "stopped_early": bool(state.get("stopped_early")), "replicas": distribution.replicas,
               "out": str(out)}
    metrics = evaluate(model, val_images, fold=options["fold"])
    metrics["model"] = str(out / "model.keras")
    metrics["training"] = summary
    if distribution.is_chief:
        from lanmsff_edge.evaluation import confusion_title
        from lanmsff_edge.plots import save_confusion_png

        with artifact_group():  # the model and the figures that describe it: all new, or all as they were
            save_model(model, out / "model.keras", include_optimizer=False)
            save_confusion_png(metrics["confusion_matrix_percent"], metrics["class_names"], out / "confusion.png",
                               title=confusion_title(metrics), counts=list(metrics["support"].values()))
            write_text(out / METRICS_NAME, json.dumps(metrics, indent=2) + "\n")
    else:  # saving reads every variable, a collective the chief waits on: save too, into a folder thrown away
        with tempfile.TemporaryDirectory(prefix="lanmsff-worker-") as scratch:
            save_model(model, Path(scratch) / "model.keras", include_optimizer=False)
    LOGGER.info(f"best epoch {summary['best_epoch']} of {summary['epochs_run']}: validation accuracy "
                f"{100 * metrics['accuracy']:.2f} % ({metrics['correct']:,}/{metrics['size']:,}) → {out}/model.keras")
    return metrics


def _finished_metrics(path):
    """The metrics.json of a finished run, checked to be one (a record with its accuracy)."""
    from lanmsff_edge.text import read_text

    try:
        metrics = json.loads(read_text(path))
    except ValueError as error:
        metrics, problem = None, f"not valid JSON: {error}"
    else:
        accuracy = metrics.get("accuracy") if isinstance(metrics, dict) else None
        problem = None if isinstance(accuracy, (int, float)) and not isinstance(accuracy, bool) else \
            "no accuracy figure"
    if problem:
        raise UserError(f"{path} is not the metrics of a finished run ({problem}); the run itself is finished: "
                        "measure its model.keras with `lanmsff-edge evaluate --model` instead")
    return metrics
