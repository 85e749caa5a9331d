"""A bundle built with real TFLite Micro + CMSIS-NN (single rounding, the default) runs on an emulated Cortex-M7
(QEMU), passes its golden self-test bit for bit and computes what the host's single-rounding TFLM computes; a bundle
whose golden output was corrupted fails it; missing parts are one-line errors.

Needs arm-none-eabi-gcc, qemu-system-arm and a TFLM tree ($TFLM_DIR, or ../shared/tflm/tflm-tree.tar.gz);
skipped without them. The first run builds the Cortex-M7 TFLM library into $LANMSFF_TFLM_CACHE (minutes)."""
import json
import os
import re
import shutil
from pathlib import Path

import pytest

from lanmsff_edge.errors import UserError
from lanmsff_edge.firmware_export import emulate, export_firmware, tflm

SHARED_TREE = Path(__file__).resolve().parents[1].parent / "shared" / "tflm" / "tflm-tree.tar.gz"
TREE = os.environ.get("TFLM_DIR") or (str(SHARED_TREE) if SHARED_TREE.is_file() else None)
MISSING_TOOLS = [tool for tool in tflm.TOOLS if not shutil.which(tool)]


def _missing():
    """What this machine lacks for the emulation tests, naming only what is missing."""
    missing = []
    if MISSING_TOOLS:
        missing.append(f"{', '.join(MISSING_TOOLS)} (apt-get install {tflm.APT_PACKAGES})")
    if not TREE:
        missing.append("a TFLM tree ($TFLM_DIR, or ../shared/tflm/tflm-tree.tar.gz; docs/data.md)")
    return "needs " + " and ".join(missing) if missing else ""


needs_arm = pytest.mark.skipif(bool(_missing()), reason=_missing())
pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def tree():
    return tflm.find_tree(TREE)


@pytest.fixture(scope="module")
def bundle(int8_lanmsff, tmp_path_factory):
    out = tmp_path_factory.mktemp("emulated") / "fw"
    export_firmware(int8_lanmsff.path, out, tflm=TREE)  # single rounding, the default
    return out


@needs_arm
def test_bundle_passes_its_golden_self_test_on_an_emulated_cortex_m7(bundle, tree, int8_lanmsff):
    import numpy as np

    from lanmsff_edge.firmware_export.host import HostMicro

    extra = np.random.default_rng(3).integers(-128, 128, size=(2, 1, 64, 64, 1), dtype=np.int8)
    result = emulate.emulate(bundle, "cortex-m7", tree, inputs=extra)
    single = HostMicro(int8_lanmsff.path.read_bytes(), tree, "single")
    host = [single.invoke(x)[0].reshape(-1).tolist() for x in extra]
    single.close()
    # CMSIS-NN built with single rounding on the core computes what the host TFLM built so computes
    assert result.rounding == "single" and result.outputs == host
    manifest = json.loads((bundle / "bundle.json").read_text())
    assert result.golden_ok and result.self_test_passed and result.max_diff_lsb == 0
    assert result.output == manifest["golden"]["output"]
    assert result.instructions > result.macs > 0  # an int8 MAC takes more than one instruction
    assert max(result.instructions_runs) - min(result.instructions_runs) < 0.01 * result.instructions
    assert result.ops and sum(op["instructions"] for op in result.ops) <= result.instructions
    assert next(iter(result.by_op_type)) == "CONV_2D"  # the heaviest op kind comes first
    assert 0 < result.arena_used_bytes <= manifest["arena"]["size"]
    assert result.flash_bytes > manifest["model"]["bytes"] and result.ram_bytes > result.arena_used_bytes
    assert result.warnings == []  # the bundle's own sources compile without warnings (-Wall -Wextra)


@needs_arm
def test_a_corrupted_golden_output_fails_the_self_test(bundle, tree, tmp_path):
    broken = tmp_path / "broken"
    shutil.copytree(bundle, broken)
    header = broken / "lanmsff_golden.h"
    text = header.read_text()
    match = re.search(r"(g_lanmsff_golden_output\[[^\]]*\] = \{\s*)(-?\d+)", text)
    value = int(match.group(2))
    header.write_text(text[:match.start(2)] + str(value + 9 if value < 100 else value - 9) + text[match.end(2):])
    result = emulate.emulate(broken, "cortex-m7", tree)
    assert not result.golden_ok and not result.self_test_passed and result.max_diff_lsb == 9


@needs_arm
def test_export_firmware_verify_records_the_emulated_run(int8_lanmsff, tmp_path, run_cli):
    out = tmp_path / "fw"
    result = run_cli("export-firmware", "--model", str(int8_lanmsff.path), "--out", str(out), "--verify",
                     "cortex-m7", "--tflm", TREE)
    assert result.exit_code == 0, result.output
    verified = json.loads((out / "bundle.json").read_text())["verified"]
    assert verified["golden_ok"] and verified["core"] == "cortex-m7" and verified["instructions"] > 0
    assert "bit-exact" in result.output


@needs_arm
def test_bench_emulate_reports_golden_ok_and_instructions(int8_lanmsff, tmp_path, run_cli):
    out = tmp_path / "out.json"
    result = run_cli("bench", "--device", "mcu", "--model", str(int8_lanmsff.path), "--emulate", "cortex-m7",
                     "--tflm", TREE, "--runs", "1", "--warmup", "0", "--json", str(out))
    assert result.exit_code == 0, result.output
    row = json.loads(out.read_text())["results"][0]
    assert row["emulation"][0]["golden_ok"] is True and row["emulation"][0]["instructions"] > 0


def test_missing_tree_and_tools_are_one_line_errors(monkeypatch, tmp_path):
    monkeypatch.delenv("TFLM_DIR", raising=False)
    with pytest.raises(UserError, match="--tflm"):
        tflm.find_tree(None)
    with pytest.raises(UserError, match="not a TensorFlow Lite Micro tree"):
        tflm.find_tree(str(tmp_path))
    (tmp_path / tflm.MAKEFILE).parent.mkdir(parents=True)
    (tmp_path / tflm.MAKEFILE).write_text("")
    with pytest.raises(UserError, match="third-party downloads"):
        tflm.find_tree(str(tmp_path))
    monkeypatch.setattr(shutil, "which", lambda name: None)
    with pytest.raises(UserError, match="apt-get install .*qemu-system-arm"):
        tflm.require_tools()


def test_errors_name_tflm_dir_when_the_tree_came_from_it(monkeypatch, tmp_path, run_cli, int8_lanmsff):
    monkeypatch.setenv("TFLM_DIR", str(tmp_path / "absent"))
    with pytest.raises(UserError, match=r"^TFLM_DIR=.*absent: no such file or directory"):
        tflm.find_tree(None)
    monkeypatch.setenv("TFLM_DIR", str(tmp_path))
    with pytest.raises(UserError, match=r"^TFLM_DIR=.*: not a TensorFlow Lite Micro tree"):
        tflm.find_tree(None)
    with pytest.raises(UserError, match=r"^--tflm .*: not a TensorFlow Lite Micro tree"):
        tflm.find_tree(str(tmp_path))
    # a --tflm path that does not exist is a usage error (exit 2), as every other path option's is
    for args in (("bench", "--device", "mcu", "--model", int8_lanmsff.path, "--emulate", "cortex-m7"),
                 ("export-firmware", int8_lanmsff.path, "--out", tmp_path / "fw", "--verify", "cortex-m7")):
        result = run_cli(*args, "--tflm", tmp_path / "nonexistent")
        assert result.exit_code == 2 and "does not exist" in result.output, result.output


def test_a_plain_tflite_micro_checkout_with_its_downloads_is_a_tree(tmp_path):
    """The layout `git clone tflite-micro` + `make … third_party_downloads` leaves, given as the checkout or as
    the folder above it."""
    checkout = tmp_path / "src" / "tflite-micro"
    (checkout / tflm.MAKEFILE).parent.mkdir(parents=True)
    (checkout / tflm.MAKEFILE).write_text("# TFLM's Makefile\n")
    (checkout / ".git").mkdir()
    (checkout / ".git" / "HEAD").write_text("ref: refs/heads/main\n")
    for name in tflm.REQUIRED_DOWNLOADS:
        (checkout / tflm.DOWNLOADS / name).mkdir(parents=True)
        (checkout / tflm.DOWNLOADS / name / "LICENSE").write_text(name)
    for given in (checkout, checkout.parent):
        assert tflm.find_tree(str(given)).root == checkout.resolve()
    before = tflm.fingerprint(checkout)
    (checkout / ".git" / "HEAD").write_text("ref: refs/heads/other\n")
    assert tflm.fingerprint(checkout) == before  # git's own files do not change the cache key
    (checkout / tflm.DOWNLOADS / "ruy" / "LICENSE").write_text("changed")
    assert tflm.fingerprint(checkout) != before


def test_a_cached_library_is_not_built_again_and_a_build_says_its_one_time_cost(monkeypatch, tmp_path, caplog):
    from lanmsff_edge.firmware_export.cores import get_core

    monkeypatch.setenv("LANMSFF_TFLM_CACHE", str(tmp_path / "cache"))
    monkeypatch.setattr(tflm, "require_tools", lambda names: {name: f"/usr/bin/{name}" for name in names})
    monkeypatch.setattr(tflm, "newlib_present", lambda gcc: True)
    monkeypatch.setattr(shutil, "which", lambda name: f"/usr/bin/{name}")
    tree = tflm.Tree(tmp_path, "0" * 64)
    made = []

    def fake_make(command, cwd, log, env, gendir):
        made.append(command)
        (Path(gendir) / "cortex_m_generic" / "lib").mkdir(parents=True)
        (Path(gendir) / "cortex_m_generic" / "lib" / tflm.LIBRARY).write_bytes(b"!<arch>\n")
        return 0

    monkeypatch.setattr(tflm, "_run_with_progress", fake_make)
    with caplog.at_level("INFO", logger="lanmsff_edge"):
        first = tflm.library(tree, get_core("cortex-m7"))
    assert first.read_bytes() == b"!<arch>\n" and len(made) == 1
    assert "building TensorFlow Lite Micro for cortex-m7" in caplog.text and "one-time cost" in caplog.text
    caplog.clear()
    with caplog.at_level("DEBUG", logger="lanmsff_edge"):
        assert tflm.library(tree, get_core("cortex-m7")) == first
    assert len(made) == 1 and "building" not in caplog.text.lower()


def test_a_long_build_logs_progress_lines(tmp_path, caplog):
    import sys

    gendir = tmp_path / "gen"
    gendir.mkdir()
    (gendir / "a.o").write_bytes(b"")
    command = [sys.executable, "-c", "import time; time.sleep(0.5)"]
    with open(tmp_path / "build.log", "w") as log, caplog.at_level("INFO", logger="lanmsff_edge"):
        assert tflm._run_with_progress(command, tmp_path, log, dict(os.environ), gendir, every=0.1) == 0
    assert "TFLM build: 1 object files compiled" in caplog.text


def test_a_non_bundle_folder_is_refused(tmp_path):
    with pytest.raises(UserError, match="not a firmware bundle"):
        emulate.emulate(tmp_path, "cortex-m7", tree=None)


def test_unknown_core_is_refused():
    from lanmsff_edge.firmware_export.cores import get_core

    with pytest.raises(UserError, match="cortex-m4, cortex-m7, cortex-m55"):
        get_core("cortex-m3")


@needs_arm
def test_the_library_is_built_from_the_ops_optimized_kernels_only(tree):
    from lanmsff_edge.firmware_export import kernels
    from lanmsff_edge.firmware_export.cores import get_core

    variables = tflm.make_variables(get_core("cortex-m7"))
    every = kernels.makefile_lists(tree, variables)
    chosen = kernels.select(tree, variables, ["AddConv2D", "AddMean", "AddSoftmax"])
    built = chosen[kernels.KERNEL_LIST].split()
    micro = "tensorflow/lite/micro/kernels/"
    assert set(built) < set(every[kernels.KERNEL_LIST])
    assert {micro + "cmsis_nn/conv.cc", micro + "cmsis_nn/softmax.cc", micro + "reduce.cc"} <= set(built)
    assert micro + "conv.cc" not in built and micro + "softmax.cc" not in built  # no reference twin
    assert {micro + "conv_common.cc", micro + "kernel_util.cc"} <= set(built)  # helpers their headers declare
    assert not {micro + "cmsis_nn/add.cc", micro + "cmsis_nn/svdf.cc", micro + "lstm_eval.cc"} & set(built)
    assert not [name for name in built if name.startswith("signal/")]
    cmsis_nn = {Path(name).name for name in chosen[kernels.CMSIS_NN_LIST].split()}
    assert {"arm_convolve_s8.c", "arm_convolve_1x1_s8_fast.c", "arm_softmax_s8.c"} <= cmsis_nn
    assert not {"arm_elementwise_add_s8.c", "arm_svdf_s8.c", "arm_lstm_unidirectional_s8.c"} & cmsis_nn
    assert len(cmsis_nn) < len(every[kernels.CMSIS_NN_LIST])


@needs_arm
def test_an_op_the_resolver_header_does_not_know_builds_every_kernel(tree):
    from lanmsff_edge.firmware_export import kernels
    from lanmsff_edge.firmware_export.cores import get_core

    assert kernels.select(tree, tflm.make_variables(get_core("cortex-m7")), ["AddConv2D", "AddNoSuchOp"]) is None
