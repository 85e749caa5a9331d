"""Helps and --model values come from what is installed: the bundled names from lanmsff_edge/pretrained, no model
that is not there; `info` says which model it describes."""
import re

import pytest

from lanmsff_edge.artifacts import presets

MODEL_COMMANDS = ("bench", "evaluate", "export-firmware", "gradcam", "info", "predict", "quantize")


def _model_help(run_cli, command):
    result = run_cli(command, "--help")
    assert result.exit_code == 0, result.output
    text = " ".join(result.output.split())
    match = re.search(r"--model MODEL (.*?)(?= --[a-z])", text)
    assert match, text
    return match.group(1)


INSTALLED = [name for name in presets.NAMES if presets.model_path(name, "float").is_file()]
MISSING = [name for name in presets.NAMES if name not in INSTALLED]


def test_bundled_names_are_what_the_folder_holds(tmp_path):
    assert presets.bundled_names()[:3] == ["ferplus", "ferplus:int8", "ferplus:float"]
    assert [name for name in presets.bundled_names() if ":" not in name] == INSTALLED
    assert presets.bundled_names(tmp_path) == []
    presets.model_path("fer2013", "int8", tmp_path).write_bytes(b"x")
    assert presets.bundled_names(tmp_path) == ["fer2013", "fer2013:int8"]


ONE_FORMAT = {"gradcam": "float", "quantize": "float", "export-firmware": "int8"}  # what those commands take


@pytest.mark.parametrize("command", MODEL_COMMANDS)
def test_every_model_help_lists_the_bundled_names_and_nothing_else(run_cli, command):
    text = _model_help(run_cli, command)
    names = presets.bundled_names()
    if command in ONE_FORMAT:  # only the names it accepts: no ferplus:int8 in gradcam's help
        names = [name for name in names if name.partition(":")[2] in ("", ONE_FORMAT[command])]
    assert f"a bundled model: {', '.join(names)}." in text
    assert not [name for name in MISSING if re.search(rf"\b{re.escape(name)}\b(?![.-])", text)]


@pytest.mark.parametrize("command, refused, accepted", [
    ("gradcam", "ferplus:int8", "ferplus:float"), ("quantize", "ferplus:int8", "ferplus:float"),
    ("export-firmware", "ferplus:float", "ferplus:int8")])
def test_a_bundled_name_in_a_format_the_command_does_not_take_is_a_usage_error(run_cli, command, refused, accepted,
                                                                                tmp_path):
    args = {"gradcam": [tmp_path / "face.png"], "quantize": [], "export-firmware": ["--out", tmp_path / "fw"]}
    result = run_cli(command, *args[command], "--model", refused)
    assert result.exit_code == 2, result.output
    assert f"{refused}: this command takes a {ONE_FORMAT[command]} model" in " ".join(result.output.split())
    assert accepted in result.output and refused not in result.output.split("bundled:")[1]


@pytest.mark.parametrize("value, expected", [
    ("ferplus-w0.25", "pretrained model 'ferplus-w0.25' (float) is not installed (lanmsff_ferplus-w0.25.keras "
                      "missing; bundled: ferplus, ferplus:int8, ferplus:float, fer2013, fer2013:int8, fer2013:float); "
                      "make one with `lanmsff-edge train "
                      "--dataset ferplus --data ferplus.tar.gz --width 0.25"),
    ("ferplus-w0.25:int8", "pretrained model 'ferplus-w0.25' (int8) is not installed"),
    ("ferplus:fp16", "unknown model format 'fp16': choose one of float, int8"),
])
def test_a_bundled_name_that_is_not_installed_is_refused_at_parse_time(run_cli, value, expected, tmp_path,
                                                                        monkeypatch):
    for name in ("ferplus", "fer2013"):  # a checkout where only these two are installed, whatever this one holds
        for fmt in presets.FORMATS:
            (tmp_path / presets.PRESETS[name]["files"][fmt]).symlink_to(presets.model_path(name, fmt))
    monkeypatch.setattr(presets, "FOLDER", tmp_path)
    result = run_cli("info", "--model", value)
    assert result.exit_code == 2
    assert expected in " ".join(result.output.split())


def test_info_says_which_model_it_describes(run_cli):
    built = run_cli("info", "--width", "0.25")
    assert built.exit_code == 0, built.output
    assert "file        none: built with --width 0.25, --classes 8 (untrained)" in built.output
    loaded = run_cli("info", "--model", "ferplus")
    assert loaded.exit_code == 0, loaded.output
    assert f"file        {presets.model_path('ferplus')} (bundled ferplus)" in loaded.output
    assert "parameters  358,563" in loaded.output and built.output.splitlines()[1:] != loaded.output.splitlines()[1:]
    int8 = run_cli("info", "--model", "ferplus:int8")
    assert int8.exit_code == 0 and "lanmsff_ferplus_int8.tflite" in int8.output.splitlines()[0]
