"""demo: presets, the summary table, and the whole pipeline end to end with tiny settings."""
import json
import re

import pytest

from lanmsff_edge.demo import PRESETS, free_folder, settings_for, summary_lines
from lanmsff_edge.errors import UserError


def test_presets_and_explicit_values():
    assert settings_for() == PRESETS["full"] and PRESETS["full"].augment == "none"
    quick = settings_for(quick=True)
    assert quick.epochs < PRESETS["full"].epochs and quick.augment == "none"
    custom = settings_for(quick=True, epochs=5, width=0.25, limit=64)
    assert (custom.epochs, custom.width, custom.limit) == (5, 0.25, 64)
    assert custom.qat_epochs == quick.qat_epochs  # untouched fields keep the preset
    with pytest.raises(UserError, match="--epochs"):
        settings_for(epochs=0)


def test_an_occupied_out_folder_moves_the_run_to_the_next_free_name(tmp_path):
    demo = tmp_path / "demo"
    assert free_folder(demo) == demo  # absent
    demo.mkdir()
    assert free_folder(demo) == demo  # empty
    (demo / "summary.json").write_text("{}")
    assert free_folder(demo) == tmp_path / "demo2"
    (tmp_path / "demo2").mkdir()
    (tmp_path / "demo2" / "x").write_text("x")
    (tmp_path / "demo3").write_text("a file, not a folder")
    assert free_folder(demo) == tmp_path / "demo4"
    assert (demo / "summary.json").read_text() == "{}"  # the earlier run is left alone


def test_the_demo_folders_are_git_ignored():
    import subprocess
    from pathlib import Path

    repo = Path(__file__).resolve().parents[1]
    names = ["demo/summary.md", "demo2/summary.md", "demo17/run/model.keras"]
    ignored = subprocess.run(["git", "check-ignore", *names], cwd=repo, capture_output=True, text=True)
    if ignored.returncode == 128:
        pytest.skip("not a git checkout")
    assert ignored.stdout.split() == names
    kept = subprocess.run(["git", "check-ignore", "lanmsff_edge/demo.py", "tests/test_demo.py"], cwd=repo,
                          capture_output=True, text=True)
    assert kept.stdout == ""


def test_summary_table_compares_int8_with_float():
    summary = {
        "validation": {"images": 480},
        "float": {"accuracy": 0.9, "size_bytes": 1_474_560, "latency_ms": 24.0},
        "int8": {"accuracy": 0.895, "size_bytes": 430_080, "latency_ms": 2.0, "speedup_vs_float": 12.0,
                 "size_ratio_vs_float": 3.43},
        "micro": {"arena_bytes": 552_960},
        "firmware": {"folder": "demo/firmware", "files": 9, "arena_size": 608_256,
                     "boards_that_fit": ["STM32H743 (NUCLEO-H743ZI2)"]},
    }
    lines = summary_lines(summary)
    cells = {row[0]: row[1:] for row in (re.split(r"\s{2,}", line.strip()) for line in lines[:5])}
    assert cells["accuracy, synthetic val (480 images)"] == ["90.00 %", "89.50 %", "-0.50 points"]
    summary["int8"]["vs_float"] = {"lost": 3, "gained": 1, "p_value": 0.625}
    cells = {row[0]: row[1:] for row in (re.split(r"\s{2,}", line.strip()) for line in summary_lines(summary)[:5])}
    assert cells["accuracy, synthetic val (480 images)"][2] == "-0.50 points (3 lost, 1 gained, p 0.62)"
    assert cells["file size"] == ["1,440 KB", "420 KB", "3.4× smaller"]
    assert cells["latency, 1 thread, host CPU (median)"] == ["24.00 ms", "2.00 ms", "12.0× faster"]
    assert cells["TFLite Micro arena (smallest / bundle)"] == ["540 KB / 594 KB"]
    assert "boards the firmware fits: STM32H743 (NUCLEO-H743ZI2)" in lines
    markdown = summary_lines(summary, markdown=True)
    assert markdown[0].startswith("| ") and markdown[1].startswith("|---|")


def test_an_interrupted_demo_says_how_to_start_again_not_resume(run_cli, tmp_path, monkeypatch):
    import lanmsff_edge.training

    def interrupted(*args, **kwargs):
        raise KeyboardInterrupt

    monkeypatch.setattr(lanmsff_edge.training, "train", interrupted)
    result = run_cli("demo", "--out", tmp_path / "demo")
    assert result.exit_code == 130
    assert "run `lanmsff-edge demo` again" in result.stderr and "--resume" not in result.output


@pytest.mark.slow
def test_demo_runs_end_to_end_with_tiny_settings(run_cli, tmp_path):
    out = tmp_path / "demo"
    result = run_cli("demo", "--out", out, "--width", "0.25", "--limit", "64", "--epochs", "1")
    assert result.exit_code == 0, result.output
    for step in ("[1/5] training", "[2/5] quantization-aware", "[3/5] bench", "[4/5] bench", "[5/5] TFLite Micro"):
        assert step in result.output
    assert "accuracy, synthetic val (64 images)" in result.output
    assert "boards the firmware fits:" in result.output
    # stdout holds the results only: the steps and Keras' progress go to stderr
    assert "[1/5] training" in result.stderr and "epoch 1/1:" in result.stderr
    assert not re.search(r"\[\d/5\]|Epoch|loss|Restoring|\d+/\d+ - ", result.stdout), result.stdout
    assert result.stdout.lstrip().startswith("float (Keras)")

    for name in ("run/model.keras", "run/config.json", "lanmsff_int8.tflite", "lanmsff_int8.json", "bench_cpu.json",
                 "bench_mcu.json", "firmware/bundle.json", "summary.json", "summary.md"):
        assert (out / name).is_file(), name
    summary = json.loads((out / "summary.json").read_text())
    cpu = json.loads((out / "bench_cpu.json").read_text())
    int8_row = next(row for row in cpu["results"] if row["format"] == "tflite")
    assert summary["int8"]["accuracy"] == pytest.approx(int8_row["accuracy"])
    assert summary["int8"]["vs_float"] == int8_row["vs_float"] and int8_row["vs_float"]["images"] == 64
    assert summary["int8"]["size_bytes"] == (out / "lanmsff_int8.tflite").stat().st_size
    assert summary["float"]["size_bytes"] > summary["int8"]["size_bytes"]
    assert summary["micro"]["arena_bytes"] <= summary["firmware"]["arena_size"]
    bundle = json.loads((out / "firmware" / "bundle.json").read_text())
    assert bundle  # the firmware manifest the bundle writes

    # what the demo made is usable by the other commands: predict with the int8 model
    import cv2

    from lanmsff_edge.data import load_dataset

    face = tmp_path / "face.png"
    cv2.imwrite(str(face), load_dataset("synthetic", split="val", limit=1).images[0])
    result = run_cli("predict", face, "--model", out / "lanmsff_int8.tflite", "--no-detect")
    assert result.exit_code == 0, result.output
    assert "face.png  64×64  1 face" in result.output
