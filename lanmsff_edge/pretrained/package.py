"""Put a trained model pair into the package with its model card (a maintainer's step, not a user command).

    python -m lanmsff_edge.pretrained.package --name ferplus --run training_runs/ferplus \
        --int8 runs/ferplus_int8.tflite --data ../shared/data/ferplus.tar.gz

Measures both files on the whole validation split (accuracy, per-class accuracy) and on the first
``--check-limit`` images (the ``check`` entry the tests re-measure), and the int8 file's kernel parity
(``parity``: XNNPACK, reference kernels, TFLite Micro) on the whole validation split; gathers the recipe,
split sizes, epochs and quantization settings from the run's config.json, checkpoint and the quantize report
(``<int8 stem>.json``), then copies the files and writes the card, each atomically. ``card_markdown`` renders a
card's section of ``docs/model_cards.md`` (printed at the end, to paste there).
``--parity-report parity.json`` instead only writes the installed card's parity record (with the trace's findings)
from a ``bench --parity --trace`` report on the whole validation split of the same int8 file.

A run that is still training moves on while this works: quantize and package a frozen copy of its folder
(config.json + checkpoint.npz). The float model's validation accuracy must equal the one the quantize report
measured for its reference, or the int8 file was made from other weights and nothing is installed.
"""
import argparse
import hashlib
import json
import re
import shutil
import sys
import time
from pathlib import Path

from lanmsff_edge.artifacts import presets
from lanmsff_edge.atomic import atomic_path, write_text
from lanmsff_edge.errors import UserError
from lanmsff_edge.training.history import HISTORY_NAME, read_csv

CHECK_LIMIT = 500


def _training_summary(run):
    from lanmsff_edge.artifacts import checkpoint as ckpt

    checkpoint = ckpt.load(Path(run) / ckpt.CHECKPOINT_NAME)
    state = checkpoint.state
    history = state.get("history", [])
    finished = bool(state.get("stopped_early")) or (Path(run) / "model.keras").exists()
    return {"epochs_run": checkpoint.epoch, "best_epoch": checkpoint.best_epoch, "finished": finished,
            "stopped_early": bool(state.get("stopped_early")),
            "learning_rate_now": state.get("learning_rate"),
            "val_accuracy_per_epoch": [round(float(row["val_accuracy"]), 4) for row in history]}


def _quantize_report(int8_path):
    """The report ``quantize`` wrote beside the int8 file (``<stem>.json``), or None."""
    report_path = Path(int8_path).with_suffix(".json")
    return json.loads(report_path.read_text()) if report_path.exists() else None


def _quantization_summary(report, int8_path):
    if report is None:
        return {"report": None}
    row = next((r for r in report.get("variants", []) if r.get("file") == str(int8_path)), None)
    row = row or (report.get("variants") or [{}])[0]
    summary = {"method": row.get("method"), "io": report.get("io"),
               "calibration_images": (report.get("calibration") or {}).get("size")}
    if "qat" in report:
        qat = report["qat"]
        summary.update(qat_epochs=qat.get("epochs"), qat_learning_rate=qat.get("learning_rate"),
                       qat_kept_epoch=qat.get("kept_epoch"), qat_augment=qat.get("augment"))
    return summary


def _check_same_weights(float_metrics, report, int8_path):
    if report is None:
        return
    reference = report.get("reference", {}).get("accuracy")
    same_images = report.get("split") == "val" and report.get("limit") is None
    if same_images and reference is not None and abs(reference - float_metrics["accuracy"]) > 1e-9:
        raise UserError(f"{int8_path} was quantized from a model with {100 * reference:.2f} % validation accuracy, "
                        f"but the run's model has {100 * float_metrics['accuracy']:.2f} %: not the same weights "
                        f"(package a frozen copy of a run that is still training)")


# train's flags for the options a run can set (None: not a flag); booleans turn off with --no-…
_FLAGS = {"epochs": "epochs", "batch_size": "batch-size", "seed": "seed", "width": "width", "massatt": "massatt",
          "pwfs": "pwfs", "massatt_form": "massatt-form", "fold": "fold", "augment": "augment", "limit": "limit",
          "learning_rate": "learning-rate", "bn_recalibration": "bn-recalibration", "targets": "targets",
          "init": "init", "teacher": "teacher", "teacher_weight": "teacher-weight", "dropout": "dropout"}
_ALWAYS = ("epochs", "batch_size", "seed")  # stated even at their defaults, so a reader sees them


def train_command(dataset, archive, options, out, init=None):
    """The ``lanmsff-edge train`` command that makes this run again: every option that differs from the default
    (``init``: the name to give for the initial model, e.g. an earlier stage's ``runs/…`` folder)."""
    from lanmsff_edge.training.config import OPTION_DEFAULTS

    words = [f"lanmsff-edge train --dataset {dataset}"] + ([f"--data {archive}"] if archive else [])
    for key in (*_ALWAYS, *(k for k in _FLAGS if k not in _ALWAYS)):
        value = init if key == "init" else options.get(key)
        if value is None or (key not in _ALWAYS and value == OPTION_DEFAULTS.get(key)):
            continue
        if isinstance(value, bool):
            words.append(f"--{'' if value else 'no-'}{_FLAGS[key]}")
        else:
            words.append(f"--{_FLAGS[key]} {value:g}" if isinstance(value, float) else f"--{_FLAGS[key]} {value}")
    return " ".join(words + [f"--out {out}"])


def _earlier_run(run, config):
    """The run folder that made the model ``config``'s run started from (``options.init``): found where it was or
    beside ``run`` (moved). None for a preset, a model file or a folder no longer there."""
    init = config["options"].get("init")
    if not init or presets.is_bundled_name(str(init)):
        return None
    for folder in (Path(init), Path(run).parent / Path(init).name):
        if (folder / "config.json").is_file() and (folder / HISTORY_NAME).is_file():
            return folder
    return None


def _installed_stages_before(folder, config, name):
    """A run (``folder``, its ``config``) that fine-tuned the bundled ``name`` the packaged model replaces
    (``--init ferplus-w0.5`` packaged as ``ferplus-w0.5``) continues the runs of that model's installed card: the
    card's stages up to the model the run started from, each with its command, as recorded then (those folders
    may have trained on since). That is the card's last stage while the installed file is the one the run started
    from (same sha256), or the stage before the run when the card already lists it (the run was bundled before:
    packaged again, or a later stage fine-tuned it). [] otherwise."""
    init = str(config["options"].get("init") or "")
    if init.partition(":")[0] != name or not presets.is_bundled_name(init):  # "ferplus-w0.5" or "…:float"
        return []
    card = presets.card(name)
    stages = (card.get("training") or {}).get("stages") or []
    runs = [stage["run"] for stage in stages]
    path = presets.model_path(name, "float")
    started_from = (config.get("init") or {}).get("sha256")
    if runs and path.is_file() and hashlib.sha256(path.read_bytes()).hexdigest() == started_from:
        count = len(runs)
    elif Path(folder).name in runs[1:]:
        count = runs.index(Path(folder).name, 1)
    else:
        return []
    commands = card.get("reproduce") or []
    if len(commands) != len(stages) + 1:  # each stage's train command, then the quantize command
        raise UserError(f"the installed card of {name} has {len(commands)} reproduce commands for {len(stages)} "
                        "training stages (expected one more, the quantize command); re-install it")
    return [dict(stage, command=command) for stage, command in zip(stages[:count], commands[:count])]


def _with_out(command, out):
    """A recorded train command writing ``out`` (the installed card's last stage wrote runs/NAME then)."""
    rewritten, count = re.subn(r"--out \S+$", f"--out {out}", command)
    if count != 1:
        raise UserError(f"an installed card's train command does not end with --out FOLDER: {command}")
    return rewritten


def _dropout_words(options):
    """The card's words for a dropout rate other than the paper's (runs from before --dropout have none)."""
    from lanmsff_edge.training.config import OPTION_DEFAULTS

    rate = options.get("dropout", OPTION_DEFAULTS["dropout"])
    paper = OPTION_DEFAULTS["dropout"]
    return "" if rate == paper else f"dropout {rate:g} (the paper's: {paper:g}), "


def _history_summary(folder, epochs=None):
    """Epochs, best epoch (lowest val loss) and its accuracy, from a run's history.csv (its checkpoint may be gone);
    ``epochs``: only the first ones (those the next stage started after)."""
    rows = read_csv(Path(folder) / HISTORY_NAME)[:epochs]
    if not rows:
        raise UserError(f"{folder}/{HISTORY_NAME} has no epochs")
    best = min(rows, key=lambda row: float(row["val_loss"]))
    return {"epochs_run": len(rows), "best_epoch": int(best["epoch"]),
            "best_val_accuracy": round(float(best["val_accuracy"]), 4)}


def training_stages(name, run, training):
    """The runs that made ``run``'s model, first first, each ``{run, init, learning_rate, epochs_run, best_epoch,
    best_val_accuracy, command}``: a fine-tuning (``train --init``) of an earlier run folder is preceded by that
    run's stages, as far as it had trained when the fine-tuning started. ``training``: ``run``'s own summary (from
    its checkpoint); its command writes ``runs/NAME``."""
    from lanmsff_edge.artifacts.reference import run_config

    chain, folder, seen, installed = [], Path(run), set(), []
    while folder is not None and folder.resolve() not in seen:
        seen.add(folder.resolve())
        config = run_config(folder / "config.json")
        chain.insert(0, (folder, config))
        installed = _installed_stages_before(folder, config, name)
        folder = None if installed else _earlier_run(run, config)
    runs = [stage["run"] for stage in installed] + [folder.name for folder, _ in chain]
    outs = []
    for index, run_name in enumerate(runs[:-1]):  # no stage overwrites another
        out = f"runs/{run_name}"
        outs.append(f"{out}_stage{index + 1}" if run_name == name or out in outs else out)
    outs.append(f"runs/{name}")
    stages = [dict(stage, command=_with_out(stage["command"], outs[index])) for index, stage in enumerate(installed)]
    for index, (folder, config) in enumerate(chain):
        options = config["options"]
        position = len(installed) + index
        last = index == len(chain) - 1
        if last:
            summary = dict(training, best_val_accuracy=None)
            rows = summary.get("val_accuracy_per_epoch") or []
            if summary.get("best_epoch") and len(rows) >= summary["best_epoch"]:
                summary["best_val_accuracy"] = rows[summary["best_epoch"] - 1]
        else:
            summary = _history_summary(folder, (chain[index + 1][1].get("init") or {}).get("epochs_run"))
        init_name = outs[position - 1] if position else options.get("init")
        epochs = options.get("epochs") if last and training["finished"] else summary["epochs_run"]
        archive = Path(config["data"]).name if config.get("data") else None
        stages.append({"run": folder.name, "init": init_name, "learning_rate": options.get("learning_rate"),
                       "epochs_run": summary["epochs_run"], "best_epoch": summary["best_epoch"],
                       "best_val_accuracy": summary["best_val_accuracy"],
                       "command": train_command(config["dataset"], archive, dict(options, epochs=epochs),
                                                outs[position], init_name)})
    return stages


def _in_card_folders(quantize_command, run, name):
    """The given quantize command with the run's own folder (``runs/<run folder name>``) named as the card's train
    commands name it (``runs/NAME``), so the reproduce steps chain."""
    return re.sub(rf"runs/{re.escape(Path(run).name)}(?=[/\s]|$)", f"runs/{name}", quantize_command)


def make_card(name, run, float_path, int8_path, data, check_limit=CHECK_LIMIT, quantize_command=None, notes=()):
    """The model card (dict) of ``float_path`` / ``int8_path``, trained in run folder ``run``; ``notes``: what a
    reader must know that the files cannot tell (e.g. what an initial model was trained on)."""
    from lanmsff_edge.artifacts.reference import run_config
    from lanmsff_edge.data import load_dataset
    from lanmsff_edge.evaluation import evaluate, paired_comparison
    from lanmsff_edge.runtimes import open_runtime, predict_faces

    config = run_config(Path(run) / "config.json")
    if not config:
        raise UserError(f"{run}: no training run config.json")
    dataset = config["dataset"]
    train = load_dataset(dataset, data, split="train", fold=config.get("fold"))  # once, for both files
    val = load_dataset(dataset, data, split="val", fold=config.get("fold"))
    paths = {"float": float_path, "int8": int8_path}
    probabilities = {fmt: predict_faces(open_runtime(Path(path)), val.images) for fmt, path in paths.items()}
    full = {fmt: evaluate(str(path), dataset=val, unseen_vs=train, probabilities=probabilities[fmt])
            for fmt, path in paths.items()}
    int8_vs_float = paired_comparison(val.labels, probabilities["int8"].argmax(1), probabilities["float"].argmax(1))
    check = {fmt: evaluate(str(path), dataset=dataset, data=data, split="val", limit=check_limit)["accuracy"]
             for fmt, path in (("float", float_path), ("int8", int8_path))}
    training = _training_summary(run)
    report = _quantize_report(int8_path)
    _check_same_weights(full["float"], report, int8_path)
    options = config["options"]
    # an unfinished run's model is reproduced by training exactly the epochs it had run
    stages = training_stages(name, run, training)
    training["stages"] = [{k: v for k, v in stage.items() if k != "command"} for stage in stages]
    archive = Path(config["data"]).name if config.get("data") else None
    parity = measure_parity(int8_path, val, name, dataset, archive)
    quantization = _quantization_summary(report, int8_path)
    epochs = quantization.get("qat_epochs")
    if quantize_command:
        quantize_command = _in_card_folders(quantize_command, run, name)
    else:
        quantize_command = (f"lanmsff-edge quantize --model runs/{name} --method {quantization.get('method') or 'qat'} "
                            f"{'' if epochs is None else f'--epochs {epochs} '}"
                            f"--out runs/{name}/lanmsff_{name}_int8.tflite")
    status = "final" if training["finished"] else (
        f"interim: best epoch {training['best_epoch']} of an unfinished run ({training['epochs_run']} epoch(s) "
        f"so far); replaced when the run finishes")
    return {
        "name": f"lanmsff_{name}",
        "status": status,
        "dataset": dataset,
        "class_names": config["class_names"],
        "architecture": {"model": "LANMSFF (Ezati et al.)", "params": full["float"]["params"],
                         "input": "64×64×1 grayscale face crop, each image min-max scaled to [0, 1]",
                         "output": "softmax over class_names"},
        "data": {"archive": archive, "splits": config["splits"],
                 "note": "held-back test split not used; model selected and reported on validation"},
        "recipe": config["recipe"],
        "options": {k: v for k, v in options.items() if k != "data"},
        "training": training,
        "quantization": quantization,
        "accuracy": {"split": "val", "images": full["float"]["size"],
                     "float": full["float"]["accuracy"], "int8": full["int8"]["accuracy"],
                     "ci95": {fmt: full[fmt]["accuracy_ci95"] for fmt in full},
                     "int8_vs_float": int8_vs_float,
                     "per_class": {fmt: full[fmt]["per_class_accuracy"] for fmt in full},
                     "information_density": {fmt: full[fmt]["information_density"] for fmt in full},
                     "unseen": {"copies_of": "train", "copies": full["float"]["unseen"]["copies"],
                                "images": full["float"]["unseen"]["size"],
                                **{fmt: full[fmt]["unseen"]["accuracy"] for fmt in full}}},
        "check": {"split": "val", "limit": check_limit, "accuracy": check},
        "parity": parity,
        "files": {"float": {"file": presets.model_path(name, "float").name,
                            "size_bytes": Path(float_path).stat().st_size},
                  "int8": {"file": presets.model_path(name, "int8").name,
                           "size_bytes": Path(int8_path).stat().st_size}},
        "notes": list(notes),
        "reproduce": [stage["command"] for stage in stages] + [quantize_command],
        "versions": config.get("versions", {}),
        "packaged": time.strftime("%Y-%m-%d"),
    }


PARITY_PAIR_KEYS = ("a", "b", "max_abs_diff", "images_differing", "top1_differing", "top1_agreement",
                    "top1_differing_max_margin", "images_by_max_diff")
PARITY_BACKENDS = ("xnnpack", "reference", "tflm", "builtin")
PARITY_COMMAND = ("lanmsff-edge bench --parity --trace --model {name}:int8 --dataset {dataset} --data {archive} "
                  "--split val --backends " + ",".join(PARITY_BACKENDS) + " --json parity.json")


def parity_entry(report, entry, command=None):
    """The card's ``parity`` record from one model entry of a ``bench --parity`` report (``bench.parity_report``):
    the pair table, accuracy per backend, the library versions, and with a trace its findings (not its per-op
    rows, which stay in the report)."""
    host = report.get("host", {})
    record = {"split": report["split"], "images": report["images"], "command": command,
              "sha256": entry.get("sha256"),
              "backends": {name: backend["description"] for name, backend in entry["backends"].items()},
              "versions": {key: host.get(key) for key in ("ai_edge_litert", "tflite_micro")},
              "pairs": [{key: pair[key] for key in PARITY_PAIR_KEYS} for pair in entry["pairs"]],
              "accuracy": entry["accuracy"]}
    trace = entry.get("trace")
    if trace:
        ops = {row["index"]: row for row in trace["ops"]}
        gain = [row for row in trace["ops"] if row.get("steps_per_input_step")]
        record["trace"] = {
            "a": trace["a"], "b": trace["b"], "images": trace["images"],
            "first_differing_op": trace["first_differing_op"],
            "own_differences": {kind: {k: v for k, v in info.items() if k != "kernels"}
                                for kind, info in trace["by_kind"].items() if info["ops_with_own_difference"]},
            "growth": {key: None if row is None
                       else {**row, "cumulative_images": ops[row["index"]]["cumulative_images"]}
                       for key, row in trace["growth"].items()},
            "output_gain": None if not gain else {"op": gain[-1]["name"], "index": gain[-1]["index"],
                                                  "steps_per_input_step": gain[-1]["steps_per_input_step"]},
            "dead_ops": [f"#{i} {ops[i]['name']} {ops[i]['output']}" for i in trace["dead_ops"]],
            "rounding": trace["rounding"],
        }
        record["cause"] = cause_text(record)
    return record


def measure_parity(int8_path, images, name, dataset, archive=None, trace=False):
    """The card's ``parity`` record of preset ``name``'s int8 file, measured on ``images`` (the whole validation
    split)."""
    from lanmsff_edge.bench.host import host_info
    from lanmsff_edge.bench.models import open_model
    from lanmsff_edge.bench.parity_report import model_entry

    entry = model_entry(open_model(int8_path), images, PARITY_BACKENDS, trace=trace)
    report = {"split": images.split, "images": len(images), "host": host_info()}
    return parity_entry(report, entry, PARITY_COMMAND.format(name=name, dataset=dataset,
                                                             archive=archive or f"{dataset}.tar.gz"))


def set_parity(name, report_path, directory=None):
    """Write the ``parity`` record of installed model ``name``'s card from a ``bench --parity [--trace]`` JSON
    report: its entry for the installed int8 file (same sha256), measured on the whole validation split."""
    path = presets.require(name, "int8", directory)
    digest = hashlib.sha256(path.read_bytes()).hexdigest()
    try:
        report = json.loads(Path(report_path).read_text())
    except (OSError, ValueError) as error:
        raise UserError(f"cannot read the parity report {report_path}: {error}") from None
    entry = next((e for e in report.get("models", []) if e.get("sha256") == digest), None)
    if report.get("kind") != "parity" or entry is None:
        raise UserError(f"{report_path} has no parity entry for {path.name} (sha256 {digest[:12]}…)")
    card = presets.card(name, directory)
    size = card.get("data", {}).get("splits", {}).get("val", {}).get("size")
    if report.get("split") != "val" or report.get("fold") or (size is not None and report.get("images") != size):
        raise UserError(f"{report_path} measured {report.get('images')} {report.get('split')} images; the card "
                        f"records the whole validation split ({size} images)")
    card["parity"] = parity_entry(report, entry, PARITY_COMMAND.format(name=name, dataset=card.get("dataset", name),
                                                                      archive=card.get("data", {}).get("archive")))
    write_text(presets.card_path(name, directory), json.dumps(card, indent=2) + "\n")
    return card


def parity_markdown(parity, dataset, name=None):
    """The card's parity table and, with a trace, where the difference comes from (docs/model_cards.md lines);
    ``name``: the preset's (default: the data set's)."""
    lines = [f"Kernel parity of `{name or dataset}` int8 on all {parity['images']:,} {dataset} validation images: "
             f"the raw int8 outputs of the same inputs under each pair of kernel libraries (ai-edge-litert "
             f"{parity['versions'].get('ai_edge_litert')}, tflite-micro {parity['versions'].get('tflite_micro')}; "
             f"`{parity['command']}`):", "",
             "| pair | max difference (output steps of 1/256) | images differing | within 2 steps | top-1 differing "
             "(their top-2 gap ≤, steps) | top-1 agreement |",
             "|---|---:|---:|---:|---:|---:|"]
    for pair in parity["pairs"]:
        within = sum(count for steps, count in pair["images_by_max_diff"].items() if int(steps) <= 2)
        gap = pair.get("top1_differing_max_margin")
        lines.append(f"| {pair['a']} vs {pair['b']} | {pair['max_abs_diff']:g} | {pair['images_differing']:,} | "
                     f"{100 * within / parity['images']:.1f} % | {pair['top1_differing']}"
                     f"{'' if gap is None else f' (≤ {gap})'} | {100 * pair['top1_agreement']:.2f} % |")
    accuracy = ", ".join(f"{name} {100 * value:.2f} %" for name, value in parity["accuracy"].items()
                         if value is not None)
    lines += ["", f"Validation accuracy per backend: {accuracy}."]
    cause = parity.get("cause") or cause_text(parity)
    if cause:
        lines += ["", cause]
    return lines


def cause_text(parity):
    """Where the difference comes from, in words, from the record's trace findings (None without a trace)."""
    trace = parity.get("trace")
    if not trace or not trace["first_differing_op"]:
        return None
    first, rounding, growth = trace["first_differing_op"], trace["rounding"], trace["growth"]
    own = ", ".join(f"{kind} ({info['ops_with_own_difference']} of {info['ops']})"
                    for kind, info in trace["own_differences"].items())
    a, b = trace["a"], trace["b"]
    text = (f"Where it comes from (`--trace`, {trace['images']:,} images, {a} against {b} with every "
            f"intermediate tensor kept, and each op run alone on identical inputs): the first op that differs is "
            f"#{first['index']} {first['name']} (`{first['output']}`). Ops "
            f"that differ by themselves, never by more than one step: {own}; every other op only passes "
            f"differences on.")
    if rounding.get("elements"):
        text += (f" In the CONV_2D / DEPTHWISE_CONV_2D ops ({rounding['images']} images analysed exactly), "
                 f"{rounding.get(f'{b}_off_double_rounding', 0):,} of the {rounding['elements']:,} differing "
                 f"elements are {b}'s double rounding (its requantization rounds acc·M first to 1/2^r of a step, "
                 f"then to a step, so values just below a half step come out one step high), "
                 f"{rounding.get('tie', 0)} are exact ties and {rounding.get(f'{a}_off', 0)} are {a}'s float32 "
                 f"rounding; {a} is the correctly rounded one.")
        single = rounding.get(f"single_rounding_differs_from_{a}")
        if single is not None:
            text += (f" Rounding once instead (TFLite Micro built with `TFLITE_SINGLE_ROUNDING=1`, CMSIS-NN with "
                     f"`CMSIS_NN_USE_SINGLE_ROUNDING`), those convolutions would give {a}'s value on all but "
                     f"{single:,} of their {rounding['outputs']:,} output elements (replayed, not built here).")
    inner, logits, out = growth["largest_intermediate"], growth["output_input"], growth["output"]
    if inner and inner["cumulative_max"]:
        text += (f" The largest intermediate difference, {inner['cumulative_max']} steps at #{inner['index']} "
                 f"{inner['name']} (`{inner['output']}`, scale {inner['scale']:.2g}: "
                 f"{inner['cumulative_max'] * inner['scale']:.2g} in real units, on "
                 f"{inner['cumulative_images']:,} images)"
                 + (", goes nowhere: every op reading it is dead." if inner.get("consumers_dead") else "."))
    if logits and out:
        text += (f" At the logits (#{logits['index']} {logits['name']}) the outputs differ by up to "
                 f"{logits['cumulative_max']} steps, on {logits['cumulative_images']:,} of {trace['images']:,} "
                 f"images")
        gain = trace.get("output_gain")
        if gain:
            text += (f"; the int8 {gain['op']} turns one logit step into up to "
                     f"{gain['steps_per_input_step']:.1f} output steps (½ × logit scale / output scale), hence "
                     f"{out['cumulative_max']} at the output")
        text += "."
    if trace["dead_ops"]:
        text += (f" Dead ops (constant on every image: {', '.join(d.split(' ')[0] for d in trace['dead_ops'])}) "
                 f"contribute nothing.")
    return text


def card_markdown(card):
    """The ``docs/model_cards.md`` section of a model card (``tests/test_pretrained.py`` checks it is there)."""
    accuracy = card["accuracy"]
    splits = card["data"]["splits"]
    training, recipe, options = card["training"], card["recipe"], card["options"]
    plateau, stop = recipe["reduce_lr_on_plateau"], recipe["early_stopping"]
    quantization = card["quantization"]
    how = quantization.get("method") or "int8"
    if quantization.get("qat_epochs") is not None:
        how += f" ({quantization['qat_epochs']} fine-tuning epoch(s), kept epoch {quantization.get('qat_kept_epoch')})"
    lines = [f"### `{card['name']}` ({card['dataset']}, {len(card['class_names'])} classes) — {card['status']}",
             "",
             f"Trained on {card['data']['archive'] or card['dataset']}: {splits['train']['size']:,} train / "
             f"{splits['val']['size']:,} validation images; best epoch {training['best_epoch']} of "
             f"{training['epochs_run']}. Recipe: {recipe['optimizer'].capitalize()} {recipe['learning_rate']:g}, "
             f"batch {options['batch_size']}, {options['augment']} augmentation, {_dropout_words(options)}"
             f"learning rate ×{plateau['factor']:g} "
             f"after {plateau['patience']} epochs without a lower {plateau['monitor']}, early stopping after "
             f"{stop['patience']}. int8: {how}, full-integer, int8 input and output.",
             ""]
    stages = training.get("stages") or []
    if len(stages) > 1 or (stages and stages[0]["init"]):
        lines += ["Training stages (each a `train --init` of the one before; the recipe above is the last one's):"]
        for number, stage in enumerate(stages, 1):
            best = stage.get("best_val_accuracy")
            start = f"`{stage['init']}`" if stage["init"] else "random initial weights"
            lines.append(f"{number}. `{stage['run']}`: from {start}, learning "
                         f"rate {stage['learning_rate']:g}, {stage['epochs_run']} epochs, best epoch "
                         f"{stage['best_epoch']}" + ("" if best is None else f" ({100 * best:.2f} % validation)"))
        lines.append("")
    lines += [*(f"{note}" for note in card.get("notes", [])), *([""] if card.get("notes") else []),
              f"| file | size | {card['dataset']} validation accuracy ({accuracy['images']:,} images) |",
             "|---|---:|---:|"]
    for fmt in ("float", "int8"):
        file = card["files"][fmt]
        lines.append(f"| `{file['file']}` | {file['size_bytes'] / 1024:,.0f} KB | {100 * accuracy[fmt]:.2f} % |")
    if accuracy.get("ci95") and accuracy.get("int8_vs_float"):
        (f_low, f_high), (q_low, q_high) = accuracy["ci95"]["float"], accuracy["ci95"]["int8"]
        versus = accuracy["int8_vs_float"]
        lines += ["", f"95 % intervals (Wilson): float {100 * f_low:.2f}–{100 * f_high:.2f} %, "
                      f"int8 {100 * q_low:.2f}–{100 * q_high:.2f} %. "
                      f"int8 against float on the same images: {versus['lost']} lost, "
                      f"{versus['gained']} gained, top-1 agreement {100 * versus['agreement']:.1f} %, exact McNemar "
                      f"p = {versus['p_value']:.2g}."]
    unseen = accuracy.get("unseen")
    if unseen and unseen["copies"]:
        lines += ["", f"{unseen['copies']:,} validation images are pixel copies of training images (FER-2013 repeats "
                      f"faces); on the other {unseen['images']:,}: float {100 * unseen['float']:.2f} %, int8 "
                      f"{100 * unseen['int8']:.2f} %."]
    lines += ["", "| class | " + " | ".join(card["class_names"]) + " |",
              "|---|" + "---:|" * len(card["class_names"])]
    for fmt in ("float", "int8"):
        per_class = accuracy["per_class"][fmt]
        cells = " | ".join("–" if per_class[c] is None else f"{100 * per_class[c]:.1f}" for c in card["class_names"])
        lines.append(f"| {fmt} % | {cells} |")
    if card.get("parity"):
        lines += [""] + parity_markdown(card["parity"], card["dataset"], card["name"].removeprefix("lanmsff_"))
    lines += ["", "Reproduce: " + "; then ".join(f"`{command}`" for command in card["reproduce"]), ""]
    return "\n".join(lines)


def install(name, float_path, int8_path, card, directory=None):
    """Copy both files and write the card into the package folder, each atomically."""
    for fmt, source in (("float", float_path), ("int8", int8_path)):
        with atomic_path(presets.model_path(name, fmt, directory)) as temporary:
            shutil.copyfile(source, temporary)
    write_text(presets.card_path(name, directory), json.dumps(card, indent=2) + "\n")


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--name", required=True, choices=presets.NAMES)
    parser.add_argument("--run", help="the training run folder")
    parser.add_argument("--int8", help="the int8 .tflite made from the run (quantize's OUT)")
    parser.add_argument("--data", help="the data set's archive or folder")
    parser.add_argument("--parity-report", help="only write the installed card's kernel parity record from this "
                                                "`bench --parity [--trace] --split val` JSON report")
    parser.add_argument("--check-limit", type=int, default=CHECK_LIMIT)
    parser.add_argument("--quantize-command", help="the exact quantize command used (recorded in the card)")
    parser.add_argument("--note", action="append", default=[], help="a sentence for the card (repeatable)")
    parser.add_argument("--directory", help="install there instead of the package folder")
    args = parser.parse_args(argv)
    from lanmsff_edge.artifacts.reference import resolve_model_path

    if args.parity_report:
        try:
            card = set_parity(args.name, args.parity_report, args.directory)
        except UserError as error:
            print(f"error: {error}", file=sys.stderr)
            return 1
        print(card_markdown(card))
        return 0
    missing = [f"--{name}" for name in ("run", "int8", "data") if getattr(args, name) is None]
    if missing:
        parser.error(f"the following arguments are required: {', '.join(missing)}")
    try:
        float_path = resolve_model_path(args.run)
        card = make_card(args.name, args.run, float_path, args.int8, args.data, args.check_limit,
                         args.quantize_command, args.note)
        install(args.name, float_path, args.int8, card, args.directory)
    except UserError as error:
        print(f"error: {error}", file=sys.stderr)
        return 1
    print(card_markdown(card))
    return 0


if __name__ == "__main__":
    sys.exit(main())
