"""Pretrained-model loader: file layout, model cards, clear errors; the shipped files against their cards."""
import json
from pathlib import Path

import numpy as np
import pytest
from conftest import shared_archive

from lanmsff_edge import pretrained
from lanmsff_edge.artifacts import presets
from lanmsff_edge.data.classes import CLASS_NAMES
from lanmsff_edge.errors import UserError


@pytest.fixture(scope="module")
def installed(tmp_path_factory):
    """A folder laid out like the package's: a tiny float model, its TFLite conversion and a model card."""
    from lanmsff_edge.keras import keras, tf
    from lanmsff_edge.model import build_model, save_model

    folder = tmp_path_factory.mktemp("pretrained")
    keras.utils.set_random_seed(7)
    model = build_model(8, width=0.25)
    save_model(model, presets.model_path("ferplus", "float", folder))
    inputs = keras.Input((64, 64, 1))  # a small stand-in for the int8 file: the loader does not care
    outputs = keras.layers.Dense(8, activation="softmax")(keras.layers.GlobalAveragePooling2D()(inputs))
    presets.model_path("ferplus", "int8", folder).write_bytes(
        tf.lite.TFLiteConverter.from_keras_model(keras.Model(inputs, outputs)).convert())
    names = [f"expression{i}" for i in range(8)]
    presets.card_path("ferplus", folder).write_text(json.dumps({"dataset": "ferplus", "class_names": names}))
    return folder, model, names


def test_files_are_named_per_model_and_format(tmp_path):
    assert presets.model_path("ferplus", "float", tmp_path).name == "lanmsff_ferplus.keras"
    assert presets.model_path("fer2013", "int8", tmp_path).name == "lanmsff_fer2013_int8.tflite"
    assert presets.card_path("fer2013", tmp_path).name == "lanmsff_fer2013.json"


def test_load_returns_the_float_model_and_the_litert_model(installed):
    from lanmsff_edge.runtimes.litert import LiteRTRuntime

    folder, model, names = installed
    assert presets.available(folder) == [("ferplus", "float"), ("ferplus", "int8")]
    loaded = pretrained.load("ferplus", directory=folder)
    x = np.random.default_rng(0).random((2, 64, 64, 1), dtype=np.float32)
    np.testing.assert_allclose(loaded.predict(x, verbose=0), model.predict(x, verbose=0), atol=1e-6)
    tflite = pretrained.load("ferplus", "int8", directory=folder)
    assert isinstance(tflite, LiteRTRuntime) and tflite.predict(x).shape == (2, 8)
    assert pretrained.class_names("ferplus", folder) == tuple(names)  # the card's names win


def test_missing_models_say_what_is_bundled_and_how_to_make_one(installed, tmp_path):
    folder, _, _ = installed
    with pytest.raises(UserError) as error:
        pretrained.load("fer2013", "int8", directory=folder)
    message = str(error.value)
    assert "pretrained model 'fer2013' (int8) is not installed" in message
    assert "bundled: ferplus, ferplus:int8, ferplus:float" in message
    assert "train --dataset fer2013" in message and "quantize --method qat" in message
    with pytest.raises(UserError) as error:  # a family member: its width and training options are in the hint
        presets.require("ferplus-w0.25", directory=folder)
    assert ("train --dataset ferplus --data ferplus.tar.gz --width 0.25 --targets votes --teacher ferplus"
            in str(error.value))
    with pytest.raises(UserError, match="bundled: none"):
        presets.require("ferplus", directory=tmp_path)
    assert pretrained.card("ferplus", tmp_path) == {}
    assert pretrained.class_names("fer2013", tmp_path) == CLASS_NAMES["fer2013"]  # no card: the data set's order


def test_model_options_name_bundled_models_by_name_or_name_and_format(installed, tmp_path):
    folder, _, names = installed
    float_file, int8_file = (presets.model_path("ferplus", fmt, folder) for fmt in presets.FORMATS)
    assert presets.resolve("ferplus", directory=folder) == float_file
    assert presets.resolve("ferplus", "int8", directory=folder) == int8_file
    assert presets.resolve("ferplus:int8", directory=folder) == int8_file  # the explicit format wins
    assert presets.resolve("runs/ferplus/model.keras", directory=folder) is None
    (tmp_path / "ferplus").mkdir()  # a folder called ferplus (a user's run) is theirs, not the bundled model
    assert presets.resolve(tmp_path / "ferplus", directory=folder) is None
    with pytest.raises(UserError, match="'fer2013' \\(float\\) is not installed"):
        presets.resolve("fer2013", directory=folder)
    with pytest.raises(UserError, match="unknown model format 'fp16'"):
        presets.resolve("ferplus:fp16", directory=folder)
    # what the commands learn about a bundled file: its data set and label order, from the card
    # (and the training options its card records: none in this stand-in's card)
    assert presets.bundled_config(int8_file, folder) == {"dataset": "ferplus", "class_names": names, "options": {}}
    assert presets.bundled_config(tmp_path / "other.tflite", folder) is None


def test_bench_expands_a_bundled_name_into_its_float_and_int8_files():
    from lanmsff_edge.bench.runner import expand_bundled

    if not {("ferplus", "float"), ("ferplus", "int8")} <= set(presets.available()):  # was skipped once fer2013 shipped
        pytest.skip("the FERPlus pair is not bundled in this checkout")
    both = [presets.model_path("ferplus", fmt) for fmt in presets.FORMATS]
    assert expand_bundled(["ferplus"]) == both
    assert expand_bundled(["ferplus:int8", "mine.tflite"]) == [both[1], "mine.tflite"]


def test_every_command_takes_the_bundled_model_by_name(run_cli, tmp_path):
    """info (float), export-firmware (int8, labels from the card) and evaluate's data set default."""
    from lanmsff_edge.artifacts.labels import resolve_labels
    from lanmsff_edge.artifacts.reference import resolve_model_path, run_config

    if not presets.available():
        pytest.skip("no bundled models in this checkout")
    name = presets.available()[0][0]
    result = run_cli("info", "--model", name)
    assert result.exit_code == 0 and f"{pretrained.card(name)['architecture']['params']:,}" in result.output
    result = run_cli("info", "--model", f"{name}:int8")
    assert result.exit_code == 0 and "(the bundled model's card)" in result.output
    int8 = resolve_model_path(f"{name}:int8")
    assert int8 == presets.model_path(name, "int8")
    assert run_config(int8)["dataset"] == pretrained.card(name)["dataset"]
    labels, source = resolve_labels(int8, len(pretrained.class_names(name)))
    assert labels == pretrained.class_names(name) and source == "the bundled model's card"


def test_unknown_names_and_formats_are_user_errors(tmp_path):
    with pytest.raises(UserError, match="unknown pretrained model 'kdef'"):
        pretrained.load("kdef")
    with pytest.raises(UserError, match="unknown model format 'fp16'"):
        pretrained.load("ferplus", "fp16")
    presets.card_path("ferplus", tmp_path).write_text("{not json")
    with pytest.raises(UserError, match="cannot read model card"):
        pretrained.card("ferplus", tmp_path)


@pytest.mark.parametrize("name", presets.NAMES)
def test_each_bundled_cards_section_in_docs_is_what_the_packaging_tool_renders_from_it(name):
    """docs/model_cards.md holds each installed card as ``package.card_markdown`` renders it: a model re-packaged
    (new card, new figures) without its section pasted there fails here instead of leaving stale figures."""
    from lanmsff_edge.pretrained import package

    if not presets.card_path(name).is_file():
        pytest.skip(f"pretrained {name} card is not bundled in this checkout")
    section = package.card_markdown(json.loads(presets.card_path(name).read_text())).strip()
    cards = (Path(__file__).resolve().parents[1] / "docs" / "model_cards.md").read_text()
    assert section.splitlines()[0] in cards, f"docs/model_cards.md has no section for {name}"
    assert section in cards, f"docs/model_cards.md's section for {name} differs from its card: paste the " \
                             f"packaging tool's output there"


@pytest.mark.slow
@pytest.mark.shared_data
@pytest.mark.parametrize("name", presets.NAMES)
def test_shipped_models_give_the_accuracy_their_card_records(name):
    """The bundled files, on the fixed subset their card names, give the accuracy the card records."""
    if not all(presets.model_path(name, fmt).is_file() for fmt in presets.FORMATS):
        pytest.skip(f"pretrained {name} models are not bundled in this checkout")
    card = pretrained.card(name)
    check = card.get("check")
    assert check and check.get("limit") and set(check.get("accuracy", {})) == set(presets.FORMATS), \
        f"the {name} model card has no check entry (split, limit, accuracy per format)"
    archive = shared_archive(card["data"]["archive"])  # the file it was measured on (FER-2013: the sharp csv)
    measured = pretrained.check_accuracy(name, archive)
    tolerance = 1.0 / check["limit"] + 1e-9  # one image may flip on another CPU
    for fmt in presets.FORMATS:
        assert measured[fmt] == pytest.approx(check["accuracy"][fmt], abs=tolerance), fmt


@pytest.mark.slow
def test_packaging_a_run_writes_files_and_a_card_the_checker_agrees_with(tmp_path, monkeypatch):
    """A tiny synthetic run and its PTQ int8 file, packaged: the card's figures are what the files give."""
    from lanmsff_edge import train
    from lanmsff_edge.pretrained import package
    from lanmsff_edge.quantize import quantize

    monkeypatch.delenv("LANMSFF_CACHE", raising=False)
    run = tmp_path / "run"
    train(out=run, dataset="synthetic", epochs=1, limit=96, batch_size=16, width=0.25, augment="none", verbose=0)
    (run / "model.keras").unlink()  # as if still training: the best weights so far are packaged
    int8 = tmp_path / "q" / "tiny_int8.tflite"
    quantize(run, method="ptq", limit=48, calibration_size=32, out=int8)
    installed = tmp_path / "package"
    installed.mkdir()
    assert package.main(["--name", "ferplus", "--run", str(run), "--int8", str(tmp_path / "absent.tflite"),
                         "--data", "unused", "--directory", str(installed)]) == 1
    assert presets.available(installed) == []  # nothing half-installed
    card = package.make_card("ferplus", run, run / "best.keras", int8, None, check_limit=40)
    package.install("ferplus", run / "best.keras", int8, card, installed)
    assert presets.available(installed) == [("ferplus", "float"), ("ferplus", "int8")]
    assert card["status"].startswith("interim: best epoch 1")
    assert card["training"]["epochs_run"] == 1 and card["quantization"]["method"] == "ptq"
    assert card["accuracy"]["images"] == 480 and set(card["accuracy"]["per_class"]["int8"]) == set(card["class_names"])
    unseen = card["accuracy"]["unseen"]  # synthetic splits share no image
    assert unseen["copies"] == 0 and unseen["images"] == 480 and unseen["int8"] == card["accuracy"]["int8"]
    versus = card["accuracy"]["int8_vs_float"]  # the images int8 changed account for the accuracy difference
    assert versus["images"] == 480
    assert versus["gained"] - versus["lost"] == round(480 * (card["accuracy"]["int8"] - card["accuracy"]["float"]))
    low, high = card["accuracy"]["ci95"]["float"]
    assert low < card["accuracy"]["float"] < high
    assert card["files"]["int8"]["size_bytes"] == int8.stat().st_size
    assert card["reproduce"][0].startswith("lanmsff-edge train --dataset synthetic --epochs 1 --batch-size 16")
    assert "--width 0.25 --augment none --limit 96 --out runs/ferplus" in card["reproduce"][0]  # as trained
    assert len(card["training"]["stages"]) == 1 and card["training"]["stages"][0]["init"] is None
    assert "quantize --model runs/ferplus --method ptq" in card["reproduce"][1]
    measured = pretrained.check_accuracy("ferplus", None, directory=installed)
    assert measured == card["check"]["accuracy"]
    # an int8 file quantized from other weights (its report's reference accuracy differs) is refused
    report_path = int8.with_suffix(".json")
    report = json.loads(report_path.read_text())
    report.update(limit=None, reference=dict(report["reference"], accuracy=card["accuracy"]["float"] + 0.01))
    report_path.write_text(json.dumps(report))
    with pytest.raises(UserError, match="not the same weights"):
        package.make_card("ferplus", run, run / "best.keras", int8, None, check_limit=40)
    text = package.card_markdown(json.loads(presets.card_path("ferplus", installed).read_text()))
    assert "| `lanmsff_ferplus_int8.tflite` |" in text and f"{100 * card['accuracy']['int8']:.2f} %" in text
    assert f"{versus['lost']} lost, {versus['gained']} gained" in text


def test_a_given_quantize_command_names_the_run_folder_as_the_train_commands_do():
    """The card's train steps write runs/NAME; a quantize command given with the run's real folder name follows."""
    from lanmsff_edge.pretrained.package import _in_card_folders

    given = ("lanmsff-edge quantize --model runs/ferplus-w0.5-continued --epochs 3 "
             "--out runs/ferplus-w0.5-continued/lanmsff_ferplus-w0.5_int8.tflite")
    assert _in_card_folders(given, "training_runs/ferplus-w0.5-continued", "ferplus-w0.5") == (
        "lanmsff-edge quantize --model runs/ferplus-w0.5 --epochs 3 "
        "--out runs/ferplus-w0.5/lanmsff_ferplus-w0.5_int8.tflite")
    other = "lanmsff-edge quantize --model runs/ferplus-w0.5-continued2 --out x.tflite"  # another folder: left alone
    assert _in_card_folders(other, "training_runs/ferplus-w0.5-continued", "ferplus-w0.5") == other


def test_the_train_command_of_a_card_states_options_off_their_defaults():
    from lanmsff_edge.pretrained.package import train_command
    from lanmsff_edge.training.config import OPTION_DEFAULTS

    options = {**OPTION_DEFAULTS, "width": 0.5, "dropout": 0.1, "targets": "votes", "epochs": 12}
    assert train_command("ferplus", "ferplus.tar.gz", options, "runs/x") == (
        "lanmsff-edge train --dataset ferplus --data ferplus.tar.gz --epochs 12 --batch-size 32 --seed 0 "
        "--width 0.5 --targets votes --dropout 0.1 --out runs/x")
    assert "--dropout" not in train_command("ferplus", None, {**options, "dropout": 0.4}, "runs/x")


def test_a_fine_tuning_of_the_bundled_model_it_replaces_continues_that_models_runs(tmp_path, monkeypatch):
    """Re-bundling `train --init ferplus-w0.5` as ferplus-w0.5: the stages before are the installed card's, as it
    recorded them (the reproduce steps must not start from the new model, and the earlier run folders may have
    trained on since), while the installed file is the one the run started from."""
    import hashlib

    from lanmsff_edge.pretrained.package import training_stages
    from lanmsff_edge.training.config import OPTION_DEFAULTS

    monkeypatch.setattr(presets, "FOLDER", tmp_path / "installed")
    (tmp_path / "installed").mkdir()
    presets.model_path("ferplus-w0.5").write_bytes(b"weights of epoch 26")
    first = {"run": "first", "init": None, "learning_rate": 5e-4, "epochs_run": 26, "best_epoch": 26,
             "best_val_accuracy": 0.8204}
    card = {"training": {"stages": [first]},
            "reproduce": ["lanmsff-edge train --dataset ferplus --epochs 26 --out runs/ferplus-w0.5",
                          "lanmsff-edge quantize --model runs/ferplus-w0.5 --out x.tflite"]}
    presets.card_path("ferplus-w0.5").write_text(json.dumps(card))
    second = tmp_path / "runs" / "second"
    second.mkdir(parents=True)
    config = {"dataset": "ferplus", "data": "/data/ferplus.tar.gz",
              "options": {**OPTION_DEFAULTS, "width": 0.5, "learning_rate": 2e-4, "epochs": 30, "dropout": 0.1,
                          "init": "ferplus-w0.5"},
              "init": {"sha256": hashlib.sha256(b"weights of epoch 26").hexdigest()}}
    (second / "config.json").write_text(json.dumps(config))
    training = {"finished": False, "epochs_run": 6, "best_epoch": 4, "val_accuracy_per_epoch": [0.8] * 6}

    def runs_and_commands(name="ferplus-w0.5"):
        stages = training_stages(name, second, training)
        return [stage["run"] for stage in stages], [stage["command"] for stage in stages]

    runs, commands = runs_and_commands()  # no folder named first exists here: the card is the record
    assert runs == ["first", "second"]
    assert commands[0] == "lanmsff-edge train --dataset ferplus --epochs 26 --out runs/first"
    assert commands[1] == ("lanmsff-edge train --dataset ferplus --data ferplus.tar.gz --epochs 6 --batch-size 32 "
                           "--seed 0 --width 0.5 --learning-rate 0.0002 --init runs/first --dropout 0.1 "
                           "--out runs/ferplus-w0.5")
    assert training_stages("ferplus-w0.5", second, training)[0] == dict(first, command=commands[0])
    config["options"]["init"] = "ferplus-w0.5:float"
    (second / "config.json").write_text(json.dumps(config))
    assert runs_and_commands()[0] == ["first", "second"]
    # a preset it does not replace is a starting point
    assert runs_and_commands("ferplus-w0.25")[0] == ["second"]
    # the installed file is another model: the card does not describe what the run started from
    presets.model_path("ferplus-w0.5").write_bytes(b"replaced by another model")
    assert runs_and_commands()[0] == ["second"]
    # packaged again once installed (the card lists both runs, the file is second's own): still after first
    card["training"]["stages"].append({"run": "second"})
    card["reproduce"] = [commands[0], commands[1], card["reproduce"][1]]
    presets.card_path("ferplus-w0.5").write_text(json.dumps(card))
    runs, again = runs_and_commands()
    assert runs == ["first", "second"] and again == commands
    # a later stage fine-tuning that run folder (now bundled) follows it back to the card's first stage
    third = tmp_path / "runs" / "third"
    third.mkdir()
    rows = [f"{epoch},{loss},0.8" for epoch, loss in enumerate([0.6, 0.5, 0.55, 0.45, 0.5, 0.52], 1)]
    (second / "history.csv").write_text("\n".join(["epoch,val_loss,val_accuracy"] + rows) + "\n")
    (third / "config.json").write_text(json.dumps(dict(config, options=dict(config["options"], init=str(second)))))
    stages = training_stages("ferplus-w0.5", third, dict(training, finished=True))
    assert [stage["run"] for stage in stages] == ["first", "second", "third"]
    assert stages[1]["command"] == commands[1].replace("--out runs/ferplus-w0.5", "--out runs/second")
    assert "--init runs/second " in stages[2]["command"] and stages[2]["command"].endswith("--out runs/ferplus-w0.5")
    # a new run in a folder named like a listed stage, started from the installed file: after the card's last stage,
    # and written to a folder of its own
    presets.model_path("ferplus-w0.5").write_bytes(b"weights of epoch 26")
    card["training"]["stages"] = [first]
    card["reproduce"] = [commands[0].replace("runs/first", "runs/ferplus-w0.5"), "lanmsff-edge quantize"]
    card["training"]["stages"].append({"run": "second"})
    card["reproduce"].insert(1, commands[1])
    presets.card_path("ferplus-w0.5").write_text(json.dumps(card))
    stages = training_stages("ferplus-w0.5", third, dict(training, finished=True))
    assert [stage["run"] for stage in stages] == ["first", "second", "second", "third"]
    outs = [stage["command"].rpartition("--out ")[2] for stage in stages]
    assert outs == ["runs/first", "runs/second", "runs/second_stage3", "runs/ferplus-w0.5"]
    assert "--init runs/second_stage3 " in stages[3]["command"]
    card["reproduce"].pop()  # a card whose commands do not match its stages is refused, not paired wrongly
    presets.card_path("ferplus-w0.5").write_text(json.dumps(card))
    with pytest.raises(UserError, match="reproduce commands"):
        training_stages("ferplus-w0.5", third, training)


@pytest.mark.slow
def test_a_fine_tuned_run_is_reproduced_from_its_first_stage(tmp_path, monkeypatch):
    """A run started from another run folder (train --init): the card lists both stages, each with the command
    that makes it, the second starting from the first's output — also after both folders moved."""
    from lanmsff_edge import train
    from lanmsff_edge.pretrained import package

    monkeypatch.delenv("LANMSFF_CACHE", raising=False)
    tiny = dict(dataset="synthetic", limit=64, batch_size=16, width=0.25, augment="none", verbose=0)
    train(out=tmp_path / "runs" / "first", epochs=2, **tiny)
    train(out=tmp_path / "runs" / "second", epochs=1, init=tmp_path / "runs" / "first", learning_rate=1e-4, **tiny)
    # first trains on after second started from it: its stage is what it was then, 2 epochs
    train(out=tmp_path / "runs" / "first", epochs=3, resume=True, verbose=0)
    assert json.loads((tmp_path / "runs" / "second" / "config.json").read_text())["init"]["epochs_run"] == 2
    (tmp_path / "runs").rename(tmp_path / "moved")
    second = tmp_path / "moved" / "second"
    stages = package.training_stages("fer2013", second, package._training_summary(second))
    first_history = (tmp_path / "moved" / "first" / "history.csv").read_text().splitlines()
    assert [stage["run"] for stage in stages] == ["first", "second"]
    assert len(first_history) - 1 == 3 and stages[0]["epochs_run"] == 2 and stages[1]["epochs_run"] == 1
    assert stages[0]["init"] is None and stages[1]["init"] == "runs/first"
    assert [stage["learning_rate"] for stage in stages] == [1e-3, 1e-4]
    assert "--init" not in stages[0]["command"] and stages[0]["command"].endswith("--out runs/first")
    assert "--epochs 2 " in stages[0]["command"] and "--width 0.25" in stages[0]["command"]
    assert "--init runs/first" in stages[1]["command"] and "--learning-rate 0.0001" in stages[1]["command"]
    assert stages[1]["command"].endswith("--out runs/fer2013")
    # a first stage named like the preset gets its own folder: the second stage must not overwrite its --init
    renamed = package.training_stages("first", second, package._training_summary(second))
    assert renamed[0]["command"].endswith("--out runs/first_stage1")
    assert "--init runs/first_stage1" in renamed[1]["command"] and renamed[1]["command"].endswith("--out runs/first")
