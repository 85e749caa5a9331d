"""The third robustness pass (issue 42): nothing lost, nothing mixed, nothing silent. One test per class of failure,
each against the shared mechanism that handles the class (``userfiles``, ``commands.collisions``, ``atomic``,
``native``, the bundle's manifest), so fresh variants of a class are covered as well as the examples.

``run_cli`` runs the CLI in-process with ``catch_exceptions=False``: a traceback fails the test. Calls that could
hang on a FIFO or a device run under ``no_hang`` (SIGALRM), so a regression fails instead of blocking the suite.
"""
import contextlib
import json
import os
import signal
import subprocess
import sys
import zipfile
from pathlib import Path

import numpy as np
import pytest
from helpers import ferplus_folder, one_line_error

from lanmsff_edge.data.testing import encode

REPO = Path(__file__).resolve().parents[1]


@pytest.fixture(autouse=True)
def private_cache(tmp_path, monkeypatch):
    monkeypatch.setenv("LANMSFF_CACHE", str(tmp_path / "cache"))


@contextlib.contextmanager
def no_hang(seconds=30):
    def fail(*_):
        raise TimeoutError(f"blocked for {seconds} s")

    previous = signal.signal(signal.SIGALRM, fail)
    signal.alarm(seconds)
    try:
        yield
    finally:
        signal.alarm(0)
        signal.signal(signal.SIGALRM, previous)






def _photo(path, side=64):
    path.write_bytes(encode(np.random.default_rng(0).integers(0, 256, (side, side)).astype(np.uint8)))
    return path


def _leftovers(folder):
    return sorted(p.name for p in Path(folder).iterdir() if p.name.startswith("."))


# ------------------------------------------------------------------ 1. outputs never replace inputs or each other

def test_an_output_naming_an_input_or_another_output_is_refused_before_any_work(run_cli, tmp_path):
    model = tmp_path / "m.tflite"
    model.write_bytes((REPO / "lanmsff_edge/pretrained/lanmsff_ferplus-w0.25_int8.tflite").read_bytes())
    sidecar = tmp_path / "m.json"
    sidecar.write_text('{"labels": ["a", "b"]}')
    photo = _photo(tmp_path / "face.png")
    run = tmp_path / "run"
    run.mkdir()
    (run / "config.json").write_text('{"dataset": "synthetic"}')
    (run / "model.keras").write_bytes(b"not loaded: refused before")
    data = ferplus_folder(tmp_path / "ferplus")
    label = data / "FER2013Train" / "label.csv"
    os.link(photo, tmp_path / "hardlink.json")
    originals = {p: p.read_bytes() for p in (model, sidecar, photo, run / "config.json", label)}
    cases = [
        (("evaluate", "--model", model, "--dataset", "synthetic", "--json", model), "the --model model"),
        (("evaluate", "--model", model, "--dataset", "synthetic", "--json", sidecar), "sidecar"),
        (("predict", photo, "--json", photo), "IMAGES input"),
        (("predict", photo, "--json", tmp_path / "hardlink.json"), "IMAGES input"),  # the same file by inode
        (("predict", photo, "--no-detect", "--model", model, "--json", tmp_path / "sub" / ".." / "face.png"),
         "IMAGES input"),
        (("quantize", "--model", run, "--out", run / "config.tflite"), "training run"),
        (("gradcam", photo, "--out", photo), "IMAGE input"),
        (("check-data", "--dataset", "ferplus", "--data", data, "--json", label), "a file inside it"),
        (("bench", "--model", model, "--json", tmp_path / "a.md", "--markdown", tmp_path / "a.md"), "same file"),
        (("evaluate", "--model", model, "--dataset", "synthetic", "--json", tmp_path / "r.png", "--confusion",
          tmp_path / "r.png"), "same file"),
    ]
    for args, words in cases:
        line = one_line_error(run_cli(*args), code=2)
        assert words in line, (args, line)
    assert {p: p.read_bytes() for p in originals} == originals
    assert not (tmp_path / "a.md").exists() and not (tmp_path / "r.png").exists()


def test_empty_paths_are_refused_not_taken_as_not_given(run_cli, tmp_path):
    photo = _photo(tmp_path / "face.png")
    for args in (("predict", photo, "--model", ""), ("predict", photo, "--json", ""),
                 ("check-data", "--dataset", "ferplus", "--data", "")):
        assert "empty" in one_line_error(run_cli(*args), code=2)


# ------------------------------------------------------------------ 2. special files refused, reads bounded

def _fifo(path):
    os.mkfifo(path)
    return path


def test_fifos_and_devices_are_refused_wherever_a_user_file_is_taken(run_cli, tmp_path):
    fifo = _fifo(tmp_path / "pipe")
    data = ferplus_folder(tmp_path / "ferplus")
    with no_hang():
        for args in (("check-data", "--dataset", "ferplus", "--data", fifo),
                     ("check-data", "--dataset", "ferplus", "--data", "/dev/zero"),
                     ("predict", fifo, "--no-detect"),
                     ("gradcam", fifo, "--no-detect", "--out", tmp_path / "g.png"),
                     ("info", "--model", fifo),
                     ("export-firmware", "--model", "/dev/zero", "--out", tmp_path / "fw"),
                     ("export-firmware", "--model", "ferplus", "--out", tmp_path / "fw", "--verify", "cortex-m7",
                      "--tflm", fifo),
                     ("evaluate", "--model", "ferplus", "--dataset", "synthetic", "--pose-list", fifo)):
            line = one_line_error(run_cli(*args), code=2)
            assert "FIFO" in line or "character device" in line, (args, line)
        label = data / "FER2013Train" / "label.csv"
        label.unlink()
        label.symlink_to("/dev/zero")  # read whole, it would never end
        line = one_line_error(run_cli("check-data", "--dataset", "ferplus", "--data", data))
        assert "label.csv" in line and "character device" in line
        label.unlink()
        _fifo(label)
        assert "FIFO" in one_line_error(run_cli("check-data", "--dataset", "ferplus", "--data", data))


def test_a_fifo_among_the_images_is_skipped_not_waited_for(run_cli, tmp_path):
    data = ferplus_folder(tmp_path / "ferplus")
    image = data / "FER2013Train" / "fer0000001.png"
    image.unlink()
    _fifo(image)
    with no_hang():
        result = run_cli("check-data", "--dataset", "ferplus", "--data", data)
    assert result.exit_code == 0, result.output
    assert "fer0000001.png" in result.output


def test_library_readers_refuse_special_files_and_oversized_files(tmp_path, monkeypatch):
    from lanmsff_edge import userfiles
    from lanmsff_edge.artifacts.labels import resolve_labels
    from lanmsff_edge.errors import UserError
    from lanmsff_edge.faces import read_image
    from lanmsff_edge.text import read_text
    from lanmsff_edge.tflite_graph import read_tflite

    fifo = _fifo(tmp_path / "pipe")
    with no_hang():
        for read in (read_text, read_tflite, read_image, lambda p: resolve_labels("m.tflite", 2, option=str(p))):
            for special in (fifo, Path("/dev/zero")):
                with pytest.raises(UserError, match="FIFO|character device"):
                    read(special)
    big = tmp_path / "labels.txt"
    big.write_text("a\nb\n" * 1000)
    monkeypatch.setitem(userfiles.LIMITS, "text", 100)
    with pytest.raises(UserError, match="larger than"):
        read_text(big)


# ------------------------------------------------------------------ 3. a bundle folder: the user's files survive

def _fake_bundle(out, contents, stale=()):
    from lanmsff_edge.firmware_export import bundle

    folder = bundle._check_out_dir(out)
    manifest = {"format": bundle.FORMAT, "files": {p: {"sha256": bundle._sha256(b)} for p, b in contents.items()}}
    paths = bundle._layout_paths("lanmsff", "plain")
    full = {**contents, bundle.MANIFEST: json.dumps(manifest).encode()}
    writes, stale, kept = bundle._plan_writes(out, folder, full, paths)
    bundle._write_directory(out, writes, stale)
    return kept


def test_a_re_export_keeps_what_the_tool_did_not_write_and_refuses_to_replace_an_edited_file(tmp_path):
    from lanmsff_edge.errors import UserError

    out = tmp_path / "fw"
    first = {"lanmsff_model_data.cc": b"model 1", "image_provider.cc": b"default hook 1", "main.cc": b"main 1",
             "old_only.h": b"dropped in version 2"}
    _fake_bundle(out, first)
    (out / "my_camera.cc").write_text("the user's camera code")
    (out / "thesis.tex").write_text("\\documentclass{article}")
    (out / "image_provider.cc").write_text("the user's edited hook")
    (out / "notes").mkdir()
    (out / "notes" / "todo.txt").write_text("mine")
    second = {"lanmsff_model_data.cc": b"model 2", "image_provider.cc": b"default hook 2", "main.cc": b"main 2"}
    kept = _fake_bundle(out, second)
    assert kept == ["image_provider.cc"]
    assert (out / "my_camera.cc").read_text() == "the user's camera code"
    assert (out / "thesis.tex").read_text() == "\\documentclass{article}"
    assert (out / "image_provider.cc").read_text() == "the user's edited hook"
    assert (out / "notes" / "todo.txt").read_text() == "mine"
    assert (out / "lanmsff_model_data.cc").read_bytes() == b"model 2"
    assert not (out / "old_only.h").exists()  # the tool's own file of the earlier bundle, unchanged: removed

    (out / "lanmsff_model_data.cc").write_text("edited by hand")  # a generated file, not a hook: never replaced
    (out / "main.cc").unlink()
    (out / "main.cc").write_text("the user's own main")
    with pytest.raises(UserError, match=r"lanmsff_model_data.cc, main.cc were not written by lanmsff-edge"):
        _fake_bundle(out, second)
    assert (out / "lanmsff_model_data.cc").read_text() == "edited by hand"
    assert (out / "my_camera.cc").exists() and not _leftovers(tmp_path) and not _leftovers(out)


def test_a_folder_whose_bundle_json_is_not_the_tools_is_refused_whole(tmp_path):
    from lanmsff_edge.errors import UserError
    from lanmsff_edge.firmware_export import bundle

    out = tmp_path / "thesis"
    out.mkdir()
    (out / "bundle.json").write_text('{"my": "own bundle.json"}')
    (out / "thesis.tex").write_text("years of work")
    with pytest.raises(UserError, match="without a bundle.json written by lanmsff-edge"):
        bundle._check_out_dir(out)
    assert sorted(p.name for p in out.iterdir()) == ["bundle.json", "thesis.tex"]


_KILLED_SWAP = """
import os, sys
from pathlib import Path
from lanmsff_edge import atomic
out = Path(sys.argv[1])
staging = atomic.staging_folder(out)
(staging / "bundle.json").write_text('{"format": "lanmsff-edge firmware bundle", "files": {}, "v": "new"}')
real, calls = os.replace, []
def replace(source, target):
    calls.append(target)
    real(source, target)
    if sys.argv[2] == "between" and len(calls) == 2:  # journal, then out -> retired: killed before the second
        os._exit(9)
atomic.os.replace = replace
if sys.argv[2] == "staging":
    os._exit(9)
atomic.replace_folder(staging, out)
"""


@pytest.mark.parametrize("when", ["between", "staging"])
def test_a_folder_swap_killed_at_any_point_is_completed_or_cleaned_by_the_next_run(tmp_path, when):
    from lanmsff_edge.firmware_export import bundle

    out = tmp_path / "fw"
    out.mkdir()
    (out / "bundle.json").write_text(json.dumps({"format": bundle.FORMAT, "files": {}, "v": "old"}))
    subprocess.run([sys.executable, "-c", _KILLED_SWAP, str(out), when], cwd=REPO, check=False)
    assert _leftovers(tmp_path)  # the killed process left its staging (and journal)
    bundle._check_out_dir(out)  # the next export
    assert json.loads((out / "bundle.json").read_text())["v"] == ("new" if when == "between" else "old")
    assert not _leftovers(tmp_path)


def test_staging_folders_of_the_earlier_export_are_recovered(tmp_path):
    from lanmsff_edge.firmware_export import bundle

    out = tmp_path / "fw"
    (tmp_path / ".fw.old-1a2b3c4d").mkdir()  # the old bundle, moved aside, then killed
    old = json.dumps({"format": bundle.FORMAT, "files": {}})
    (tmp_path / ".fw.old-1a2b3c4d" / "bundle.json").write_text(old)
    (tmp_path / ".fw.k2j4_x9q.partial").mkdir()
    bundle._check_out_dir(out)
    assert (out / "bundle.json").read_text() == old and not _leftovers(tmp_path)


# ------------------------------------------------------------------ 4. readers never see half a group

_KILLED_GROUP = """
import os, sys
from lanmsff_edge import atomic
folder = sys.argv[1]
real, calls = os.replace, []
def replace(source, target):
    calls.append(target)
    if len(calls) == 3:  # journal, the calibration record, then killed before the model
        os._exit(9)
    real(source, target)
atomic.os.replace = replace
with atomic.artifact_group():
    atomic.write_text(f"{folder}/q.calibration.json", "new calibration")
    atomic.write_bytes(f"{folder}/q.tflite", open(sys.argv[2], "rb").read())
"""


def test_a_reader_finishes_a_group_commit_that_was_killed_half_way(tmp_path):
    from lanmsff_edge.text import read_text
    from lanmsff_edge.tflite_graph import read_tflite

    new_model = REPO / "lanmsff_edge/pretrained/lanmsff_ferplus-w0.25_int8.tflite"
    (tmp_path / "q.tflite").write_bytes(b"TFL3 old model, not even a flatbuffer")
    (tmp_path / "q.calibration.json").write_text("old calibration")
    subprocess.run([sys.executable, "-c", _KILLED_GROUP, str(tmp_path), str(new_model)], cwd=REPO, check=False)
    assert (tmp_path / "q.calibration.json").read_text() == "new calibration"  # the mix a reader must not see
    graph = read_tflite(tmp_path / "q.tflite")  # the reader settles the folder first
    assert graph.outputs and (tmp_path / "q.tflite").read_bytes() == new_model.read_bytes()
    assert read_text(tmp_path / "q.calibration.json") == "new calibration" and not _leftovers(tmp_path)


# ------------------------------------------------------------------ 5. native crashes become one line

def test_a_native_abort_in_an_isolated_call_is_one_error_naming_what_ran():
    from lanmsff_edge import native
    from lanmsff_edge.errors import UserError

    assert native.isolated("adding", lambda a, b: a + b, 2, 3) == 5
    with pytest.raises(UserError, match=r"m.tflite: TFLite Micro: native code crashed \(SIGABRT\)"):
        native.isolated("m.tflite: TFLite Micro", os.abort)
    with pytest.raises(ValueError, match="passed back"):
        native.isolated("x", lambda: (_ for _ in ()).throw(ValueError("passed back")))


def test_export_firmware_names_the_model_when_tflite_micro_aborts_on_it(run_cli, monkeypatch, tmp_path):
    from lanmsff_edge.runtimes import micro

    monkeypatch.setattr(micro, "run", lambda *args, **kwargs: os.abort())
    monkeypatch.setattr(micro, "find_arena_size", lambda *args, **kwargs: 400_000)
    line = one_line_error(run_cli("export-firmware", "--model", "ferplus-w0.25", "--out", tmp_path / "fw"))
    assert "lanmsff_ferplus-w0.25_int8.tflite" in line and "SIGABRT" in line
    assert not (tmp_path / "fw").exists()


def test_the_console_command_reports_a_native_crash_in_one_line_and_exit_1():
    script = ("import ctypes, sys\nfrom lanmsff_edge import cli, native\n"
              "def crash(*args, **kwargs):\n    with native.phase('converting q.keras to TFLite'):\n"
              "        ctypes.string_at(0)\n"
              "cli.cli.main = crash\nsys.argv = ['lanmsff-edge', 'info']\ncli.main()\n")
    done = subprocess.run([sys.executable, "-c", script], cwd=REPO, capture_output=True, text=True, timeout=120)
    assert done.returncode == 1, done.stderr
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("Error: ") and "SIGSEGV" in lines[0], done.stderr
    assert "converting q.keras to TFLite" in lines[0]


def test_the_supervised_command_keeps_exit_codes_and_interrupts(tmp_path):
    done = subprocess.run([sys.executable, "-m", "lanmsff_edge.cli", "bench", "--threads", "0"], cwd=REPO,
                          capture_output=True, text=True, timeout=120)
    assert done.returncode == 2 and "--threads" in done.stderr
    script = ("import sys, time\nfrom lanmsff_edge import cli\n"
              "def run(*args, **kwargs):\n    try:\n        print('ready', flush=True)\n        time.sleep(60)\n"
              "    except KeyboardInterrupt:\n        print('interrupted', file=sys.stderr)\n        sys.exit(130)\n"
              "cli.cli.main = run\ncli.main()\n")
    # as from an interactive shell: Ctrl-C not ignored (a background job started by a script inherits SIG_IGN,
    # which the supervisor rightly keeps)
    process = subprocess.Popen([sys.executable, "-c", script], cwd=REPO, stdout=subprocess.PIPE,
                               stderr=subprocess.PIPE, text=True,
                               preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL))
    assert process.stdout.readline().strip() == "ready"
    process.send_signal(signal.SIGINT)  # to the parent only, as a script's kill -INT would
    _, err = process.communicate(timeout=60)
    assert process.returncode == 130 and err.strip() == "interrupted"


# ------------------------------------------------------------------ 6. NaN and infinity are named, not reported

def test_nan_outputs_are_an_error_not_an_accuracy(tmp_path):
    from lanmsff_edge.errors import UserError
    from lanmsff_edge.runtimes import FunctionRuntime, predict_faces

    faces = np.zeros((3, 64, 64), np.uint8)
    broken = FunctionRuntime(lambda x: np.full((len(x), 8), np.nan), 8, source="broken.tflite")
    with pytest.raises(UserError, match=r"broken.tflite gives NaN or infinite outputs for 3 of 3 face"):
        predict_faces(broken, faces)
    finite = FunctionRuntime(lambda x: np.full((len(x), 8), 0.125), 8)
    assert predict_faces(finite, faces).shape == (3, 8)


@pytest.mark.slow
def test_a_model_with_nan_weights_is_named_by_every_command(run_cli, tmp_path, tiny_lanmsff):
    from lanmsff_edge.model import load_model, save_model

    model = load_model(tiny_lanmsff[1])
    layer = next(layer for layer in model.layers if layer.weights)
    weights = layer.get_weights()
    weights[0] = np.full_like(weights[0], np.nan)
    layer.set_weights(weights)
    path = tmp_path / "nan.keras"
    save_model(model, path)
    photo = _photo(tmp_path / "face.png")
    line = one_line_error(run_cli("quantize", "--model", path, "--dataset", "synthetic", "--method", "ptq",
                                  "--limit", 8, "--calibration-size", 8, "--out", tmp_path / "q.tflite"))
    assert layer.name in line and "NaN" in line and not (tmp_path / "q.tflite").exists()
    assert "NaN" in one_line_error(run_cli("predict", photo, "--no-detect", "--model", path))
    assert "NaN" in one_line_error(run_cli("evaluate", "--model", path, "--dataset", "synthetic", "--limit", 8))


# ------------------------------------------------------------------ 7. generated C/C++

def test_comment_text_cannot_end_a_comment_or_a_line():
    from lanmsff_edge.firmware_export.csource import comment_text

    for hostile in ("joy\n#error injected", "a */ int x; /*", "ends in a backslash \\", "trigraph ??/", "é\r\x00"):
        safe = comment_text(hostile)
        assert "\n" not in safe and "\r" not in safe and "*/" not in safe and "/*" not in safe
        assert not safe.endswith("\\") and "??" not in safe and safe.isascii() and safe.isprintable()


def test_an_arena_margin_that_would_wrap_an_int_is_refused_at_parse_time(run_cli, tmp_path):
    for margin in ("4294967296", "2147483648", "5000000KB"):
        line = one_line_error(run_cli("export-firmware", "--model", "ferplus", "--arena-margin", margin, "--out",
                              tmp_path / "fw"), code=2)
        assert "--arena-margin" in line
    assert not (tmp_path / "fw").exists()


# ------------------------------------------------------------------ 8. archives, caches, images

def _zipped(tmp_path, damage):
    data = ferplus_folder(tmp_path / "ferplus")
    archive = tmp_path / "ferplus.zip"
    with zipfile.ZipFile(archive, "w") as bundle:
        for path in sorted(data.rglob("*")):
            if path.is_file():
                bundle.write(path, path.relative_to(data).as_posix())
    raw = bytearray(archive.read_bytes())
    damage(raw)
    archive.write_bytes(bytes(raw))
    return archive


def test_a_damaged_zip_archive_is_one_line_like_a_damaged_tar(run_cli, tmp_path):
    def bad_crc(raw):  # flip a byte inside label.csv's stored data
        at = raw.find(b"fer0000000.png,")
        raw[at] ^= 0xFF

    def bad_directory(raw):  # the central directory's signature
        at = raw.rfind(b"PK\x01\x02")
        raw[at + 10:at + 30] = b"\xff" * 20

    for damage in (bad_crc, bad_directory):
        archive = _zipped(tmp_path / damage.__name__, damage)
        line = one_line_error(run_cli("check-data", "--dataset", "ferplus", "--data", archive))
        assert str(archive) in line, line


def test_an_image_replaced_in_place_is_not_served_from_the_cache(run_cli, tmp_path):
    data = ferplus_folder(tmp_path / "ferplus")
    assert run_cli("check-data", "--dataset", "ferplus", "--data", data).exit_code == 0
    image = data / "FER2013Train" / "fer0000002.png"
    stat = image.stat()
    image.write_bytes(image.read_bytes()[:50])  # same name, now undecodable
    os.utime(image, ns=(stat.st_atime_ns, stat.st_mtime_ns + 1_000_000))
    result = run_cli("check-data", "--dataset", "ferplus", "--data", data)
    assert "fer0000002.png" in result.output, result.output


def test_a_cache_entry_of_the_wrong_shape_is_rebuilt(tmp_path):
    from lanmsff_edge.data import cache
    from lanmsff_edge.data.common import LabeledImages

    good = LabeledImages(dataset="ferplus", split="train", class_names=("a", "b"),
                         images=np.zeros((2, 64, 64), np.uint8), labels=np.array([0, 1]), names=["x", "y"],
                         poses=None, skipped=0, skipped_names=[], votes=None)
    entry = tmp_path / "entry.npz"
    cache.store(entry, good)
    assert cache.load(entry) is not None
    for broken in ({"labels": np.array([0, 7])}, {"names": ["x"]}, {"images": np.zeros((2, 64, 64), np.float32)}):
        cache.store(entry, LabeledImages(**{**good.__dict__, **broken}))
        assert cache.load(entry) is None, broken


def test_a_photo_beyond_opencvs_pixel_limit_is_one_line(run_cli, tmp_path):
    import struct
    import zlib

    def chunk(kind, body):
        return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body))

    huge = tmp_path / "huge.png"
    huge.write_bytes(b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", 100_000, 100_000, 8, 0, 0, 0, 0))
                     + chunk(b"IDAT", zlib.compress(b"\0" * 100)) + chunk(b"IEND", b""))
    result = run_cli("predict", huge, "--no-detect")
    assert "no image could be read" in one_line_error(result) and "no face" not in result.output
    assert f"cannot read {huge}: the image is larger than OpenCV decodes" in result.output


def test_a_symlinked_split_folder_is_followed(run_cli, tmp_path):
    data = ferplus_folder(tmp_path / "ferplus")
    elsewhere = tmp_path / "elsewhere"
    (data / "FER2013Valid").rename(elsewhere)
    (data / "FER2013Valid").symlink_to(elsewhere)
    result = run_cli("check-data", "--dataset", "ferplus", "--data", data)
    assert result.exit_code == 0 and "val" in result.output, result.output


# ------------------------------------------------------------------ 9. run-folder files: shape, not only syntax

@pytest.mark.parametrize("config", ["[]", '"a string"', '{"options": []}', '{"options": {"width": "wide"}}',
                                    '{"options": {"width": -1}}', '{"num_classes": 8, "class_names": ["a"]}',
                                    '{"options": {"batch_size": true}}'])
def test_a_config_json_of_the_wrong_shape_is_named(run_cli, tmp_path, config):
    from lanmsff_edge.artifacts.reference import run_config

    run = tmp_path / "run"
    run.mkdir()
    (run / "config.json").write_text(config)
    line = one_line_error(run_cli("train", "--resume", "--out", run))
    assert "config.json is not a run's config.json" in line, line
    (run / "model.keras").write_bytes(b"")
    assert run_config(run / "model.keras") == {}  # read beside a model: used without it (a warning says so)


def test_a_checkpoint_of_the_wrong_shape_is_damaged_not_a_traceback(tmp_path):
    from lanmsff_edge.artifacts import checkpoint as ckpt
    from lanmsff_edge.errors import UserError

    good = ckpt.Checkpoint(state={"epoch": 2}, weights=[np.zeros(3)], optimizer_names=["m"],
                           optimizer_values=[np.zeros(3)])
    path = tmp_path / "checkpoint.npz"
    ckpt.save(good, path)
    assert ckpt.load(path).epoch == 2
    for state, names in (({"epoch": "2"}, ["m"]), ({"epoch": 2, "early_stopping": []}, ["m"]),
                         ({"epoch": 2}, ["m", "extra"]), ({"epoch": 2, "learning_rate": "fast"}, ["m"])):
        ckpt.save(ckpt.Checkpoint(state=state, weights=[np.zeros(3)], optimizer_names=names,
                                  optimizer_values=[np.zeros(3)]), path)
        with pytest.raises(UserError, match="is damaged"):
            ckpt.load(path)


def test_a_finished_runs_metrics_json_of_the_wrong_shape_is_named(tmp_path):
    from lanmsff_edge.errors import UserError
    from lanmsff_edge.training.run import _finished_metrics

    path = tmp_path / "metrics.json"
    for text in ("[]", '{"accuracy": "high"}', "{not json"):
        path.write_text(text)
        with pytest.raises(UserError, match="metrics.json is not the metrics of a finished run"):
            _finished_metrics(path)


@pytest.mark.parametrize("tf_config, words", [
    ({"cluster": {"worker": ["a:1", "b:2"]}, "task": {"type": "worker", "index": 2}}, "task index 2 is outside"),
    ({"cluster": {"worker": ["a:1"]}, "task": {"type": "worker", "index": -1}}, "task index -1"),
    ({"cluster": {"worker": ["a:1"]}, "task": {"type": "chief", "index": 0}}, "'chief' is not in the cluster"),
    ({"cluster": {"worker": "a:1"}, "task": {}}, "list of"), ([], "JSON object")])
def test_a_tf_config_outside_its_cluster_is_refused_before_tensorflow(monkeypatch, tf_config, words):
    from lanmsff_edge.errors import UserError
    from lanmsff_edge.training.distribute import chief_process

    monkeypatch.setenv("TF_CONFIG", json.dumps(tf_config))
    with pytest.raises(UserError, match=words):
        chief_process("multiworker")


def test_a_width_that_would_exhaust_memory_is_refused_at_parse_time(run_cli):
    for command in ("info", "train", "demo"):
        assert "--width" in one_line_error(run_cli(command, "--width", 1000), code=2)


def test_a_nul_byte_in_a_label_csv_name_is_refused_by_line(run_cli, tmp_path):
    data = ferplus_folder(tmp_path / "ferplus")
    label = data / "FER2013Train" / "label.csv"
    label.write_text(label.read_text().replace("fer0000001.png", "fer00\x0001.png"))
    line = one_line_error(run_cli("check-data", "--dataset", "ferplus", "--data", data))
    assert "label.csv line 2" in line


def test_missing_images_are_called_missing_not_undecodable(run_cli, tmp_path):
    data = ferplus_folder(tmp_path / "ferplus")
    for image in (data / "FER2013Valid").glob("*.png"):
        image.unlink()
    line = one_line_error(run_cli("check-data", "--dataset", "ferplus", "--data", data))
    assert "missing, no such file" in line and "decoded" not in line, line


@pytest.mark.slow
def test_gradcam_layer_without_a_spatial_output_and_a_code_carrying_model_are_one_line(run_cli, tmp_path):
    from lanmsff_edge.keras import keras

    inputs = keras.Input((64, 64, 1))
    x = keras.layers.Conv2D(2, 3, name="conv")(inputs)
    x = keras.layers.GlobalAveragePooling2D(name="pool")(x)
    model = keras.Model(inputs, keras.layers.Dense(8, activation="softmax", name="head")(x))
    path = tmp_path / "small.keras"
    model.save(path)
    photo = _photo(tmp_path / "face.png")
    line = one_line_error(run_cli("gradcam", photo, "--no-detect", "--model", path, "--layer", "pool", "--out",
                          tmp_path / "g.png"))
    assert "--layer pool" in line and "spatial" in line and not (tmp_path / "g.png").exists()

    lambda_model = keras.Model(inputs, keras.layers.Lambda(lambda t: t * 2)(model(inputs)))
    lambda_path = tmp_path / "lambda.keras"
    lambda_model.save(lambda_path)
    line = one_line_error(run_cli("predict", photo, "--no-detect", "--model", lambda_path))
    assert "safe_mode" not in line and "Python code" in line


@pytest.mark.parametrize("option, words", [("", "--labels is empty"),
                                           ("a,,b,c,d,e,f,g", r"empty label \(number 2 of 8\)"),
                                           ("a,a,b,c,d,e,f,g", "the label 'a' twice"),
                                           (" , , , , , , , ", r"number 1 of 8")])
def test_labels_that_cannot_name_the_outputs_are_refused(option, words):
    from lanmsff_edge.artifacts.labels import resolve_labels
    from lanmsff_edge.errors import UserError

    with pytest.raises(UserError, match=words):
        resolve_labels("m.tflite", 8, option=option)


def test_a_reader_waits_for_a_live_commit_and_then_names_it(tmp_path):
    from lanmsff_edge import atomic
    from lanmsff_edge.errors import UserError

    journal = tmp_path / f"{atomic.JOURNAL_PREFIX}{os.getppid()}.json"  # a live process other than this one
    journal.write_text("[]")
    with pytest.raises(UserError, match=f"process {os.getppid()} is still committing"):
        atomic.settle(tmp_path, wait=0.2)
    journal.unlink()
    atomic.settle(tmp_path, wait=0.2)  # nothing open: settled


@pytest.mark.slow
def test_a_valid_model_on_which_tflite_micro_aborts_is_one_line_not_exit_134(run_cli, tmp_path):
    """A 1000-class int8 classifier (valid: LiteRT runs it) aborts TFLite Micro inside its golden invoke."""
    from conftest import _convert

    from lanmsff_edge.keras import keras, tf

    inputs = keras.Input((64, 64, 1))
    x = keras.layers.GlobalAveragePooling2D()(keras.layers.Conv2D(4, 3, strides=4)(inputs))
    model = keras.Model(inputs, keras.layers.Dense(1000, activation="softmax")(x))
    faces = np.random.default_rng(0).random((8, 1, 64, 64, 1), np.float32)
    concrete = tf.function(lambda t: model(t, training=False)).get_concrete_function(
        tf.TensorSpec([1, 64, 64, 1], tf.float32))
    path = tmp_path / "c1000.tflite"
    path.write_bytes(_convert(concrete, model, int8=True, representative=lambda: ([f] for f in faces)))
    line = one_line_error(run_cli("export-firmware", "--model", path, "--out", tmp_path / "fw"))
    assert str(path) in line and "SIGABRT" in line and not (tmp_path / "fw").exists()
