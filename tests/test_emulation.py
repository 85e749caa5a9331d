"""A bundle built with real TFLite Micro + CMSIS-NN (single rounding, the default) runs on an emulated Cortex-M7
(QEMU), passes its golden self-test bit for bit and computes what the host's single-rounding TFLM computes; a bundle whose golden output was corrupted fails it; missing parts are one-line errors.

Needs arm-none-eabi-gcc, qemu-system-arm and a TFLM tree ($TFLM_DIR, or ../shared/tflm/tflm-tree.tar.gz);
skipped without them. The first run builds the Cortex-M7 TFLM library into $LANMSFF_TFLM_CACHE (minutes)."""
import json
import os
import re
import shutil
from pathlib import Path

import pytest

from lanmsff_edge.firmware_export import emulate, export_firmware, tflm
from lanmsff_edge.errors import UserError

SHARED_TREE = Path(__file__).resolve().parents[1].parent / "shared" / "tflm" / "tflm-tree.tar.gz"
TREE = os.environ.get("TFLM_DIR") or (str(SHARED_TREE) if SHARED_TREE.is_file() else None)
TOOLS = all(shutil.which(tool) for tool in tflm.TOOLS)

needs_arm = pytest.mark.skipif(not (TREE and TOOLS), reason="needs the Arm toolchain, qemu-system-arm and a TFLM tree")
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
