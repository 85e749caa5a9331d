"""Every bad input ends in one line (``Error: ...``) and a non-zero exit, never a traceback; nothing already written
is lost; artifacts that belong together are written as a group (issue 16). One test per class of failure.

``run_cli`` invokes the CLI in-process with ``catch_exceptions=False``: an exception that escapes the CLI fails the
test with its traceback, so "no traceback" is checked by every call.
"""
import errno
import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from helpers import ferplus_folder, one_line_error

from lanmsff_edge.data.testing import encode

REPO = Path(__file__).resolve().parents[1]


@pytest.fixture(autouse=True)
def private_cache(tmp_path, monkeypatch):
    monkeypatch.setenv("LANMSFF_CACHE", str(tmp_path / "cache"))






def _tiny_keras(path, shape, classes=8):
    from lanmsff_edge.keras import keras
    from lanmsff_edge.model import save_model

    inputs = keras.Input(shape)
    x = keras.layers.Conv2D(2, 3)(inputs)
    x = keras.layers.GlobalAveragePooling2D()(x)
    save_model(keras.Model(inputs, keras.layers.Dense(classes, activation="softmax")(x)), path)
    return path


# ------------------------------------------------------------------------------------ 1. writing output fails

def test_a_failed_write_is_one_line_removes_its_temporary_and_keeps_the_old_file(run_cli, tmp_path, monkeypatch):
    (tmp_path / "a_file").write_text("not a folder")
    result = run_cli("check-data", "--dataset", "synthetic", "--limit", 4, "--json", tmp_path / "a_file" / "x.json")
    assert "cannot write" in one_line_error(result) and "a_file" in result.output

    out = tmp_path / "report.json"
    out.write_text("the earlier report")
    real_write = Path.write_text

    def disk_full(self, text, *args, **kwargs):
        real_write(self, text[:10], *args, **kwargs)
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC), str(self))

    monkeypatch.setattr(Path, "write_text", disk_full)
    result = run_cli("check-data", "--dataset", "synthetic", "--limit", 4, "--json", out)
    monkeypatch.undo()
    line = one_line_error(result)
    assert f"cannot write {out}" in line and "No space left on device" in line
    assert out.read_text() == "the earlier report"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["a_file", "report.json"]  # no temporary left


# ------------------------------------------------------------------------------------ 2. non-finite numbers

def test_every_float_option_refuses_nan_and_infinity(run_cli):
    import click

    from lanmsff_edge.cli import cli

    context = click.Context(cli)
    checked = []
    for name in cli.list_commands(context):
        for param in cli.get_command(context, name).params:
            if isinstance(param, click.Option) and isinstance(param.type, (click.FloatRange, type(click.FLOAT))):
                for value in ("nan", "inf", "-inf"):
                    result = run_cli(name, param.opts[0], value)
                    assert result.exit_code == 2, (name, param.opts[0], value, result.output)
                    assert "finite" in result.output, result.output
                checked.append(f"{name} {param.opts[0]}")
    assert {"info --width", "train --width", "demo --width", "quantize --learning-rate"} <= set(checked)


# ------------------------------------------------------------------------------------ 3. text that is not UTF-8

def test_text_files_that_are_not_utf8_name_the_file(run_cli, tmp_path):
    from lanmsff_edge.artifacts.labels import resolve_labels
    from lanmsff_edge.data.poselists import read_pose_list
    from lanmsff_edge.errors import UserError

    latin = ferplus_folder(tmp_path / "latin")
    label = latin / "FER2013Train" / "label.csv"
    label.write_bytes(label.read_bytes() + 'fer\xe9.png,"(0, 0, 48, 48)",0,8,0,0,0,0,0,0,0,0\n'.encode("latin-1"))
    line = one_line_error(run_cli("check-data", "--dataset", "ferplus", "--data", latin))
    assert str(label) in line and "line 5" in line and "UTF-8" in line

    noise = ferplus_folder(tmp_path / "noise")
    (noise / "FER2013Train" / "label.csv").write_bytes(bytes(range(128, 256)) * 3)
    assert "UTF-8" in one_line_error(run_cli("check-data", "--dataset", "ferplus", "--data", noise))

    for read in (lambda path: resolve_labels("m.tflite", 2, option=str(path)), read_pose_list):
        path = tmp_path / "latin1.txt"
        path.write_bytes("joie\ncol\xe8re\n".encode("latin-1"))
        with pytest.raises(UserError, match=r"latin1.txt line 2: not UTF-8"):
            read(path)


# ------------------------------------------------------------------------------------ 4. damaged resume state

def test_a_damaged_checkpoint_says_so_and_never_suggests_unsafe_loading(run_cli, tmp_path, tiny_lanmsff):
    from lanmsff_edge.quantize.qat_checkpoint import checkpoint_path

    run = tmp_path / "run"
    run.mkdir()
    (run / "config.json").write_text(json.dumps({"dataset": "synthetic", "options": {"dataset": "synthetic"}}))
    out = tmp_path / "q.tflite"
    for damage in (b"PK\x03\x04 truncated", os.urandom(512), b""):
        (run / "checkpoint.npz").write_bytes(damage)
        line = one_line_error(run_cli("train", "--resume", "--out", run))
        assert "damaged" in line and "allow_pickle" not in line and "start over" in line
        checkpoint_path(out).write_bytes(damage)
        line = one_line_error(run_cli("quantize", "--model", tiny_lanmsff[1], "--dataset", "synthetic",
                                       "--resume", "--out", out))
        assert "damaged" in line and "allow_pickle" not in line


# ------------------------------------------------------------------------------------ 5. a model that does not fit

def test_a_model_whose_input_is_not_a_64x64_face_is_refused_before_it_runs(run_cli, tmp_path, tiny_tflite):
    face = tmp_path / "face.png"
    face.write_bytes(encode(np.random.default_rng(0).integers(0, 256, (48, 48)).astype(np.uint8)))
    rgb = _tiny_keras(tmp_path / "rgb32.keras", (32, 32, 3))
    for command in (("predict", face, "--no-detect", "--model", tiny_tflite("gelu_int8")),
                    ("predict", face, "--no-detect", "--model", rgb),
                    ("gradcam", face, "--no-detect", "--model", rgb, "--out", tmp_path / "g.png")):
        line = one_line_error(run_cli(*command))
        assert "64×64×1" in line, line
    assert not (tmp_path / "g.png").exists()


# ------------------------------------------------------------------------------------ 6. exit 0 on an error

def test_an_empty_or_undecodable_split_and_a_meaningless_fold_are_errors(run_cli, tmp_path):
    data = ferplus_folder(tmp_path / "broken")
    for image in (data / "FER2013Valid").glob("*.png"):
        image.write_bytes(image.read_bytes()[:40])
    for extra in ((), ("--strict",)):
        line = one_line_error(run_cli("check-data", "--dataset", "ferplus", "--data", data, *extra))
        assert "val" in line and "4 could not be decoded" in line, line

    line = one_line_error(run_cli("check-data", "--dataset", "synthetic", "--fold", 3, "--limit", 4))
    assert "--fold" in line and "kdef" in line
    assert "--fold" in one_line_error(run_cli("bench", "--dataset", "synthetic", "--fold", 9), code=2)


# ------------------------------------------------------------------------------------ 7. garbage accepted

@pytest.mark.parametrize("cell, message", [("-5", "vote counts must be whole numbers"),
                                           ("99999999999999999999999", "vote counts must be whole numbers"),
                                           ("0.7", "vote counts must be whole numbers"),
                                           ("../../outside.png", "must be a file name inside FER2013Train")])
def test_votes_and_names_that_cannot_be_right_are_refused(run_cli, tmp_path, cell, message):
    data = ferplus_folder(tmp_path / "ferplus")
    label = data / "FER2013Train" / "label.csv"
    rows = label.read_text().splitlines()
    if cell.endswith(".png"):
        (tmp_path / "outside.png").write_bytes((data / "FER2013Train" / "fer0000000.png").read_bytes())
        rows[1] = rows[1].replace("fer0000001.png", cell)
    else:
        rows[1] = rows[1].replace('",0,8', f'",{cell},8')
    label.write_text("\n".join(rows) + "\n")
    line = one_line_error(run_cli("check-data", "--dataset", "ferplus", "--data", data))
    assert "label.csv line 2" in line and message in line, line


def test_an_image_too_small_to_be_a_face_is_not_classified(run_cli, tmp_path):
    tiny = tmp_path / "one.png"
    tiny.write_bytes(encode(np.full((1, 1), 128, np.uint8)))
    result = run_cli("predict", tiny, "--no-detect")
    assert result.exit_code == 1 and "too small to be a face" in result.output and "face 1" not in result.output


# ------------------------------------------------------------------------------------ 8. skipped images counted

def test_undecodable_images_are_counted_in_the_report_and_opencv_stays_quiet(run_cli, tmp_path, capfd):
    data = ferplus_folder(tmp_path / "ferplus")
    broken = data / "FER2013Train" / "fer0000002.png"
    broken.write_bytes(broken.read_bytes()[:60])  # a PNG cut short
    capfd.readouterr()
    result = run_cli("check-data", "--dataset", "ferplus", "--data", data, "--json", tmp_path / "c.json")
    assert result.exit_code == 0, result.output
    assert "1 train image(s) could not be decoded and were left out (fer0000002.png)" in result.output
    figures = json.loads((tmp_path / "c.json").read_text())["splits"]
    assert [split["skipped"] for split in figures] == [1, 0]
    result = run_cli("bench", "--model", "ferplus:int8", "--dataset", "ferplus", "--data", data, "--split", "train",
                     "--runs", 1, "--warmup", 0)
    assert result.exit_code == 0 and "(3 images, 1 undecodable left out)" in result.output, result.output
    assert "WARN" not in capfd.readouterr().err


# ------------------------------------------------------------------------------------ 9. misleading words

def test_messages_name_the_actual_problem(run_cli, tmp_path):
    from lanmsff_edge.artifacts import presets
    from lanmsff_edge.artifacts.labels import resolve_labels
    from lanmsff_edge.errors import UserError

    (tmp_path / "emptydir").mkdir()
    line = one_line_error(run_cli("bench", "--model", tmp_path / "emptydir"))
    assert "SavedModel" not in line and "folder without model.keras" in line
    for missing in ("nofile.txt", str(tmp_path / "labels.json"), str(tmp_path)):
        with pytest.raises(UserError, match="no such file|is a folder"):
            resolve_labels("m.tflite", 8, option=missing)
    data = ferplus_folder(tmp_path / "ferplus")
    line = one_line_error(run_cli("check-data", "--dataset", "ferplus", "--data", data / "FER2013Train" / "label.csv"))
    assert "fer2013.csv" not in line and "FER2013Train" in line
    if not presets.model_path("fer2013").exists():
        with pytest.raises(UserError) as caught:
            presets.require("fer2013")
        assert "fer2013_csv.tar.gz" in str(caught.value)


# ------------------------------------------------------------------------------------ 10. artifacts together

@pytest.mark.slow
def test_quantize_writes_its_model_reports_and_calibration_together(run_cli, tmp_path, tiny_lanmsff):
    out = tmp_path / "q.tflite"
    (tmp_path / "q.json").mkdir()  # the report cannot be written: nothing else of this run may appear
    result = run_cli("quantize", "--model", tiny_lanmsff[1], "--dataset", "synthetic", "--method", "ptq",
                     "--limit", 16, "--calibration-size", 16, "--out", out)
    assert "cannot write" in one_line_error(result)
    assert sorted(p.name for p in tmp_path.iterdir() if p.name != "cache") == ["q.json"]


_KILLED_WRITER = """
import os, sys
from lanmsff_edge import atomic
folder = sys.argv[1]
if sys.argv[2] == "between-renames":
    real, calls = os.replace, []
    def replace(source, target):
        calls.append(target)
        if len(calls) == 3:  # journal, first artifact, then killed
            os._exit(9)
        real(source, target)
    atomic.os.replace = replace
    with atomic.artifact_group():
        atomic.write_text(f"{folder}/model.tflite", "new model")
        atomic.write_text(f"{folder}/model.json", "new report")
else:
    with atomic.atomic_path(f"{folder}/model.json") as temporary:
        temporary.write_text("half")
        os._exit(9)
"""


def test_a_group_killed_between_renames_is_completed_and_killed_temporaries_are_removed(tmp_path):
    from lanmsff_edge.atomic import write_text

    for name in ("model.tflite", "model.json"):
        (tmp_path / name).write_text("old")
    for how in ("between-renames", "mid-write"):
        subprocess.run([sys.executable, "-c", _KILLED_WRITER, str(tmp_path), how], cwd=REPO, check=False)
        assert any(p.name.startswith(".") for p in tmp_path.iterdir())  # the killed process left something
        write_text(tmp_path / "other.txt", "the next write into the folder")
        assert sorted(p.name for p in tmp_path.iterdir()) == ["model.json", "model.tflite", "other.txt"]
        assert [(tmp_path / n).read_text() for n in ("model.tflite", "model.json")] == ["new model", "new report"]


def test_a_run_that_failed_before_its_first_epoch_does_not_block_a_retry(run_cli, tmp_path):
    run = tmp_path / "run"
    run.mkdir()
    (run / "config.json").write_text(json.dumps({"dataset": "ferplus", "options": {"dataset": "ferplus"}}))
    data = ferplus_folder(tmp_path / "ferplus")
    for image in (data / "FER2013Train").glob("*.png"):
        image.write_bytes(b"")
    line = one_line_error(run_cli("train", "--dataset", "ferplus", "--data", data, "--out", run))
    assert "could not be decoded" in line and "already exists" not in line


# ------------------------------------------------------------------------------------ conventions

def test_option_errors_exit_2_before_tensorflow_starts():
    script = ("import sys\nfrom lanmsff_edge.cli import main\n"
              "sys.argv = ['lanmsff-edge'] + sys.argv[1:]\ntry:\n    main()\n"
              "except SystemExit as stop:\n    print('exit', stop.code, 'tensorflow' in sys.modules)\n")
    for args in (["info", "--model", "nosuch.tflite"], ["bench", "--threads", "0"], ["bench", "--runs", "0"],
                 ["bench", "--dataset", "nosuch"], ["bench", "--split", "nope"], ["train", "--seed", "-1"],
                 ["bench", "--android-delegates", "cpu,tpu"]):
        done = subprocess.run([sys.executable, "-c", script, *args], cwd=REPO, capture_output=True, text=True)
        assert done.stdout.strip().splitlines()[-1] == "exit 2 False", (args, done.stdout, done.stderr)
        assert "Traceback" not in done.stderr
    readme = (REPO / "README.md").read_text()
    assert "status 2" in readme and "status 1" in readme


def test_export_firmware_option_errors_exit_2_at_parse_time(tmp_path):
    from click.testing import CliRunner

    from lanmsff_edge.cli import cli

    for args, words in ((["--model", "nosuch.tflite"], "model file not found"),
                        (["--model", "ferplus", "--max-arena", "lots"], "give a size"),
                        (["--model", "ferplus", "--arena-margin", "nan%"], "give a percentage")):
        result = CliRunner().invoke(cli, ["export-firmware", *args, "--out", str(tmp_path / "fw")])
        assert result.exit_code == 2 and words in result.output and not (tmp_path / "fw").exists()
