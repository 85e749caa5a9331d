"""Single or double rounding in every TFLM build the tool makes: the make variables, the switches reaching the
compiler, separate caches, the bundle's record and golden vector, and the native host runner (``tflm-single``)
computing exactly the single-rounding formula.

The tests that build need g++/make and a TFLM tree ($TFLM_DIR, or ../shared/tflm/tflm-tree.tar.gz); the first run
builds the host library into $LANMSFF_TFLM_CACHE (minutes)."""
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from lanmsff_edge.errors import UserError
from lanmsff_edge.firmware_export import export_firmware, tflm
from lanmsff_edge.firmware_export.cores import get_core

SHARED_TREE = Path(__file__).resolve().parents[1].parent / "shared" / "tflm" / "tflm-tree.tar.gz"
TREE = os.environ.get("TFLM_DIR") or (str(SHARED_TREE) if SHARED_TREE.is_file() else None)
HOST_TOOLS = all(shutil.which(tool) for tool in ("g++", "gcc", "ar", "make"))
needs_tree = pytest.mark.skipif(not (TREE and HOST_TOOLS), reason="needs g++, make and a TFLM tree")


def test_single_rounding_defines_both_switches_and_keeps_the_makefiles_own_defines():
    single = tflm.host_variables("single")
    assert single["ADDITIONAL_DEFINES"] == "-DTFLITE_SINGLE_ROUNDING=1 -DCMSIS_NN_USE_SINGLE_ROUNDING"
    assert "ADDITIONAL_DEFINES" not in tflm.host_variables("double")
    core = get_core("cortex-m55")
    assert tflm.rounding_defines("double") == []
    if shutil.which("arm-none-eabi-gcc"):
        arm = tflm.make_variables(core, "single")["ADDITIONAL_DEFINES"].split()
        assert arm == ["-DCMSIS_NN", "-DTFLITE_SINGLE_ROUNDING=1", "-DCMSIS_NN_USE_SINGLE_ROUNDING"]
        assert "ADDITIONAL_DEFINES" not in tflm.make_variables(core, "double")
    with pytest.raises(UserError, match="--rounding 'triple': choose one of single, double"):
        tflm.check_rounding("triple")


def test_single_rounding_export_without_a_tree_is_one_clear_error(int8_lanmsff, tmp_path, monkeypatch):
    monkeypatch.delenv("TFLM_DIR", raising=False)
    with pytest.raises(UserError, match=r"--rounding single .*--tflm.*--rounding double"):
        export_firmware(int8_lanmsff.path, tmp_path / "fw", rounding="single")
    assert not (tmp_path / "fw").exists()
    bundle = export_firmware(int8_lanmsff.path, tmp_path / "fw")  # no tree, no --rounding: double, not an error
    assert bundle.manifest["rounding"]["mode"] == "double"


@pytest.fixture(scope="module")
def tree():
    return tflm.find_tree(TREE)


@needs_tree
def test_the_switches_reach_every_compile_and_the_libraries_are_cached_apart(tree, monkeypatch, tmp_path):
    printer = "lanmsff_flags: ; @echo CXX: $(CXXFLAGS) && echo CC: $(CCFLAGS)"
    for variables in (tflm.host_variables("single"), tflm.host_variables("double")):
        done = subprocess.run(["make", "-s", "-f", str(tree.makefile), f"--eval={printer}", "lanmsff_flags",
                               *(f"{k}={v}" for k, v in variables.items())], cwd=tree.root, capture_output=True,
                              text=True,
                              env=dict(os.environ, PATH=f"{Path(sys.executable).parent}:{os.environ['PATH']}"))
        lines = [line.split() for line in done.stdout.splitlines() if line.startswith(("CXX:", "CC:"))]
        assert len(lines) == 2, done.stderr
        single = "ADDITIONAL_DEFINES" in variables
        for flags in lines:
            assert ("-DTFLITE_SINGLE_ROUNDING=1" in flags) == single
            assert ("-DCMSIS_NN_USE_SINGLE_ROUNDING" in flags) == single
    # the cache folder name carries the rounding, and the key the variables: never the other mode's library
    built = []
    monkeypatch.setattr(tflm, "_locked", lambda path: __import__("contextlib").nullcontext())
    monkeypatch.setattr(tflm, "_run_with_progress", lambda command, *a, **k: built.append(command) or 1)  # no make
    monkeypatch.setenv("LANMSFF_TFLM_CACHE", str(tmp_path))
    for rounding in ("single", "double"):
        with pytest.raises(UserError, match=f"{rounding} rounding failed"):
            tflm.host_library(tree, rounding=rounding)
    folders = sorted(p.name for p in (tmp_path / "lib").iterdir() if p.is_dir())
    assert [name.split("-all-")[0] for name in folders] == ["host-reference-double", "host-reference-single"]
    assert any("TFLITE_SINGLE_ROUNDING=1" in " ".join(c) for c in built) and len(built) == 2


@needs_tree
def test_host_runner_computes_the_single_rounding_formula_and_the_package_the_double_one(int8_lanmsff, tree):
    """A CONV_2D of the model alone, on random inputs: the runner built with single rounding gives
    ``acc × M / 2^(31 − shift)`` rounded once (``bench.rounding``'s replay) on every element, the tflite-micro
    package its double rounding; the two differ somewhere (else the test could not tell them apart)."""
    from lanmsff_edge.bench.rounding import RoundingAnalysis
    from lanmsff_edge.firmware_export.host import HostMicro
    from lanmsff_edge.runtimes import micro
    from lanmsff_edge.runtimes.litert import LiteRTRuntime
    from lanmsff_edge.tflite_graph import read_tflite
    from lanmsff_edge.tflite_slice import single_op_model

    data = int8_lanmsff.path.read_bytes()
    index = next(op.index for op in read_tflite(data).ops if op.name == "CONV_2D")
    alone = single_op_model(data, index).data
    graph = read_tflite(alone)
    op = graph.ops[0]
    inputs = np.random.default_rng(0).integers(-128, 128, size=(4, *graph.inputs[0].shape)).astype(np.int8)
    runner = HostMicro(alone, tree, "single", micro.resolver_methods(data))  # the whole model's library
    analysis = RoundingAnalysis(alone, graph)
    litert = LiteRTRuntime(alone, preserve_all_tensors=True)
    zero_point = graph.tensors[op.outputs[0]].zero_point
    differ = 0
    for x in inputs:
        litert.invoke_raw(x)
        values = {i: litert.tensor(i) for i in op.inputs if i >= 0}
        acc, multiplier, bounds = analysis.exact(op, values)
        replicas, _ = analysis.replicas(op, acc, multiplier, zero_point, bounds)
        got_single = runner.invoke(x)[0].reshape(acc.shape)
        got_double = micro.run(alone, x)[0].reshape(acc.shape)
        assert np.array_equal(got_single, replicas["single_rounding"])
        assert np.array_equal(got_double, replicas["tflm"])
        differ += int((got_single != got_double).sum())
    runner.close()
    assert differ > 0


@needs_tree
def test_parity_runs_tflm_single_beside_tflm_and_compares_the_logits_too(int8_lanmsff, tree):
    from lanmsff_edge import parity
    from lanmsff_edge.runtimes.litert import LiteRTRuntime

    runtime = LiteRTRuntime(int8_lanmsff.path)
    inputs = [runtime.quantize_input(int8_lanmsff.calibration[i:i + 1]) for i in range(3)]
    result = parity.measure(int8_lanmsff.path.read_bytes(), inputs, ("xnnpack", "tflm-single", "tflm"), tflm=tree)
    assert all(entry["error"] is None for entry in result.backends.values()), result.backends
    assert [(p["a"], p["b"]) for p in result.logit_pairs] == [("xnnpack", "tflm-single"), ("xnnpack", "tflm"),
                                                              ("tflm-single", "tflm")]
    assert result.logits["scale"] > 0 and result.logit_outputs["tflm-single"].shape == (3, 8)
    assert result.outputs["tflm-single"].shape == (3, 8)
    assert json.dumps(result.to_dict())  # JSON-ready, logits included


def test_tflm_single_without_a_tree_is_a_backend_error_not_a_crash(int8_lanmsff, monkeypatch):
    from lanmsff_edge import parity

    monkeypatch.delenv("TFLM_DIR", raising=False)
    inputs = [np.zeros((1, 64, 64, 1), np.int8)]
    result = parity.measure(int8_lanmsff.path.read_bytes(), inputs, ("xnnpack", "tflm-single"))
    assert "--tflm" in result.backends["tflm-single"]["error"] and result.outputs["tflm-single"] is None
    assert result.pairs == [] and result.outputs["xnnpack"].shape == (1, 8)


@needs_tree
def test_a_single_rounding_bundle_records_its_rounding_and_its_golden_comes_from_the_single_build(int8_lanmsff,
                                                                                                  tree, tmp_path):
    from lanmsff_edge.firmware_export.host import HostMicro

    bundle = export_firmware(int8_lanmsff.path, tmp_path / "fw", layout="cmake", tflm=tree)
    manifest = json.loads((tmp_path / "fw" / "bundle.json").read_text())
    assert manifest["rounding"]["mode"] == "single"
    assert manifest["rounding"]["defines"] == ["TFLITE_SINGLE_ROUNDING=1", "CMSIS_NN_USE_SINGLE_ROUNDING"]
    cmake = (tmp_path / "fw" / "CMakeLists.txt").read_text()
    assert "target_compile_definitions(tflm PUBLIC TFLITE_SINGLE_ROUNDING=1 CMSIS_NN_USE_SINGLE_ROUNDING)" in cmake
    assert "-DTFLITE_SINGLE_ROUNDING=1" in (tmp_path / "fw" / "README.md").read_text()
    from lanmsff_edge.firmware_export.golden import golden_face, quantize_input
    from lanmsff_edge.tflite_graph import read_tflite

    x = read_tflite(int8_lanmsff.path.read_bytes()).inputs[0]
    golden_input = quantize_input(golden_face()[0], x.scale, x.zero_point).reshape(1, 64, 64, 1)
    runner = HostMicro(int8_lanmsff.path.read_bytes(), tree, "single")
    assert bundle.golden_output == runner.invoke(golden_input)[0].reshape(-1).tolist()
    runner.close()
    double = export_firmware(int8_lanmsff.path, tmp_path / "fw2", rounding="double")
    assert json.loads((tmp_path / "fw2" / "bundle.json").read_text())["rounding"]["defines"] == []
    assert "without `TFLITE_SINGLE_ROUNDING`" in (tmp_path / "fw2" / "README.md").read_text()
    assert len(double.golden_output) == len(bundle.golden_output)
