"""Any full-integer model, not only LANMSFF, goes through the MCU commands (issue 39): TFLite Micro's own example
models (an image classifier, audio features, an int16 SVDF, a dense sine model, an int8 LSTM) export as *tensor*
bundles (their input tensor as it is, a seeded or given golden input, generic hooks, no invented labels) whose
sources compile against the TFLM API; `bench --device mcu` measures them on random inputs of their own shape; a
model LiteRT refuses keeps its TFLite Micro figures; an emulation that fails for one model is a row, not the end."""
import json

import numpy as np
import pytest
from test_firmware_build import GXX, compile_, stub_tflm  # noqa: F401  (stub_tflm: the fixture)

from lanmsff_edge.errors import UserError
from lanmsff_edge.firmware_export import bundle as bundle_module
from lanmsff_edge.firmware_export import export_firmware
from lanmsff_edge.runtimes import micro
from lanmsff_edge.runtimes.quantization import quantize
from lanmsff_edge.tflite_graph import read_tflite


@pytest.fixture(scope="module")
def exported(tflm_examples, tmp_path_factory):
    """{name: (Bundle, model path)} of every example model, exported with --rounding double (no tree needed)."""
    out = tmp_path_factory.mktemp("any_model")
    return {name: (export_firmware(path, out / name, name=name, rounding="double"), path)
            for name, path in tflm_examples.items()}


def test_every_example_model_exports_a_tensor_bundle_of_its_own_shape_and_golden(exported):
    for name, (made, path) in exported.items():
        graph = read_tflite(path)
        x, y = graph.inputs[0], graph.outputs[0]
        manifest = json.loads((made.out / "bundle.json").read_text())
        assert manifest["kind"] == "tensor" and manifest["hooks"] == ["input_provider", "output_handler"], name
        assert manifest["input"]["shape"] == list(x.shape) and manifest["input"]["dtype"] == x.dtype, name
        assert manifest["output"]["dtype"] == y.dtype and manifest["labels"] == [], name  # none invented
        files = set(made.files)
        assert {"input_provider.cc", "output_handler.cc", f"{name}_golden.h"} <= files, name
        assert not any("preprocess" in f or "image_provider" in f or "expression" in f for f in files), name
        # the golden output is TFLM's answer to the seeded input the header carries
        seeded = np.random.default_rng(bundle_module.GOLDEN_SEED).integers(
            np.iinfo(x.dtype).min, int(np.iinfo(x.dtype).max) + 1, size=x.shape).astype(x.dtype)
        expected = micro.run(path.read_bytes(), seeded)[0].reshape(-1)
        assert manifest["golden"]["output"] == expected.astype(int).tolist(), name
        settings = (made.out / f"{name}_model_settings.h").read_text()
        assert f"InputSize = {x.elements};" in settings and f"OutputSize = {y.elements};" in settings
        assert f"using {name.title().replace('_', '')}InputType = {bundle_module.C_TYPES[x.dtype][0]};" in settings


def test_a_golden_input_file_is_used_quantized_or_as_is_and_a_bad_one_is_refused(tflm_examples, tmp_path):
    path = tflm_examples["micro_speech"]
    x = read_tflite(path).inputs[0]
    floats = np.random.default_rng(5).normal(size=x.shape).astype(np.float32) * 5
    np.save(tmp_path / "floats.npy", floats)
    made = export_firmware(path, tmp_path / "fw", golden_input=tmp_path / "floats.npy", rounding="double")
    quantized = quantize(floats, x.scale, x.zero_point, x.dtype)
    expected = micro.run(path.read_bytes(), quantized)[0].reshape(-1)
    assert made.golden_output == expected.astype(int).tolist()
    golden_h = (made.out / "lanmsff_golden.h").read_text()
    assert ", ".join(str(int(v)) for v in quantized.reshape(-1)[:8]) in " ".join(golden_h.split())

    np.save(tmp_path / "wide.npy", np.full(x.shape, 300, np.int32))
    np.save(tmp_path / "short.npy", np.zeros(10, np.int8))
    (tmp_path / "junk.npy").write_bytes(b"not numpy")
    for bad, words in (("wide.npy", "outside int8's range"), ("short.npy", "10 values"),
                       ("junk.npy", "not a NumPy .npy array")):
        with pytest.raises(UserError, match=words):
            export_firmware(path, tmp_path / "fw2", golden_input=tmp_path / bad, rounding="double")
    assert not (tmp_path / "fw2").exists()  # refused before anything is written


def test_golden_input_and_labels_errors_on_the_cli_are_one_line(tflm_examples, int8_lanmsff, tmp_path, run_cli):
    np.save(tmp_path / "g.npy", np.zeros((1, 64, 64, 1), np.int8))
    face = run_cli("export-firmware", "--model", int8_lanmsff.path, "--out", tmp_path / "a", "--golden-input",
                   tmp_path / "g.npy", "--rounding", "double")
    assert face.exit_code == 1 and "--golden-input is for models other than" in face.output
    labels = run_cli("export-firmware", "--model", tflm_examples["person_detect"], "--out", tmp_path / "b",
                     "--labels", "a,b,c", "--rounding", "double")
    assert labels.exit_code == 1 and "3 label(s)" in labels.output and "Traceback" not in labels.output
    named = run_cli("export-firmware", "--model", tflm_examples["person_detect"], "--out", tmp_path / "c",
                    "--labels", "no person,person", "--rounding", "double")
    assert named.exit_code == 0, named.output
    assert "kind        tensor: input int8 [1, 96, 96, 1]" in named.output
    assert '"no person",' in (tmp_path / "c" / "lanmsff_model_settings.h").read_text()


@pytest.mark.slow
@pytest.mark.skipif(GXX is None, reason="g++ not installed")
def test_tensor_bundles_compile_against_the_tflm_api_for_each_io_type(exported, stub_tflm, tmp_path):  # noqa: F811
    """int8 image input (person_detect), int16 in / int32 out (keyword_scrambled), float-free dense (hello_world):
    the example, its hooks and main() compile with -Werror against the stub of TFLM's API."""
    for name in ("person_detect", "keyword_scrambled", "hello_world"):
        if name not in exported:
            continue
        out = exported[name][0].out
        sources = [out / f for f in ("main.cc", "main_functions.cc", "input_provider.cc", "output_handler.cc",
                                     f"{name}_model_data.cc")]
        flags = ["-std=c++17", "-O1", "-Wall", "-Wextra", "-Werror", "-I", out, "-I", stub_tflm]
        for source in sources:
            compile_(GXX, *flags, "-c", source, "-o", tmp_path / f"{name}-{source.stem}.o")


def test_bench_mcu_measures_models_that_are_no_image_classifiers(tflm_examples, run_cli, tmp_path):
    names = [n for n in ("micro_speech", "lstm", "hello_world") if n in tflm_examples]
    args = ["bench", "--device", "mcu", "--runs", "2", "--warmup", "0", "--json", tmp_path / "b.json"]
    for name in names:
        args += ["--model", tflm_examples[name]]
    result = run_cli(*args)
    assert result.exit_code == 0, result.output
    rows = json.loads((tmp_path / "b.json").read_text())["results"]
    assert len(rows) == len(names)
    for row in rows:
        assert row["error"] is None, row
        assert row["arena_bytes"] > 0 and row["parity"]["top1_agreement"] is not None, row
        assert row["accuracy"] is None


def test_bench_with_a_face_data_set_refuses_a_tensor_model_by_name(tflm_examples, tmp_path):
    from lanmsff_edge.bench.measure import check_classes
    from lanmsff_edge.bench.models import open_model

    model = open_model(tflm_examples["micro_speech"])
    assert model.is_tensor_model and model.inputs(np.zeros((3, 64, 64), np.uint8)).shape == (3, 1960)
    with pytest.raises(UserError, match="not an image classifier .* without --dataset"):
        check_classes(model, object())


def test_a_model_litert_refuses_keeps_its_tflite_micro_figures(int8_lanmsff, monkeypatch):
    from lanmsff_edge.bench import mcu
    from lanmsff_edge.bench.models import BenchModel, open_model
    from lanmsff_edge.bench.settings import BenchSettings

    model = open_model(int8_lanmsff.path)

    def refuse(self, threads=None):
        raise RuntimeError("quantized_dimension is not supported (LiteRT)")

    monkeypatch.setattr(BenchModel, "runtime", refuse)
    row = mcu.tflm_row(model, BenchSettings(device="mcu", runs=1, warmup=0))
    assert row.error is None and row.extra["arena_bytes"] > 0 and row.latency is not None
    assert row.extra["parity"] is None and any("LiteRT could not run the file" in n for n in row.notes)


def test_an_emulation_that_fails_for_one_model_is_a_row_and_the_rest_go_on(int8_lanmsff, monkeypatch):
    from lanmsff_edge.bench import mcu
    from lanmsff_edge.bench.models import open_model
    from lanmsff_edge.bench.rows import new_row
    from lanmsff_edge.bench.settings import BenchSettings
    from lanmsff_edge.firmware_export import emulate

    model = open_model(int8_lanmsff.path)
    row = new_row(model, "TFLite Micro")
    settings = BenchSettings(device="mcu", runs=1, warmup=0)
    settings.extra.update(tflm_tree=None, emulate=("cortex-m7", "cortex-m55"))
    monkeypatch.setattr("lanmsff_edge.firmware_export.export_firmware", lambda *a, **k: None)
    calls = []

    def fake(folder, core, tree):
        calls.append(core)
        raise UserError(f"the build for {core} failed; log: /tmp/x")

    monkeypatch.setattr(emulate, "emulate", fake)
    table = mcu.emulation_rows([model], [row], [], settings)
    assert calls == ["cortex-m7", "cortex-m55"]  # the second core was still tried
    assert [entry["error"] for entry in table] == ["the build for cortex-m7 failed; log: /tmp/x",
                                                   "the build for cortex-m55 failed; log: /tmp/x"]
    assert sum("emulated cortex-m7" in note for note in row.notes) == 1


def _emulation(arena_used, golden_ok=True, arena=0):
    from lanmsff_edge.firmware_export.emulate import Emulation

    return Emulation(core="cortex-m55", machine="mps3-an547", tflm_arch="cortex-m55", kernels="CMSIS-NN",
                     golden_ok=golden_ok, self_test_passed=golden_ok, max_diff_lsb=0, output=[], golden_output=[],
                     instructions=1000, instructions_runs=[1000], instructions_per_mac=1.0, macs=1000, ops=[],
                     by_op_type={}, arena_used_bytes=arena_used, arena_bytes=arena, flash_bytes=1, ram_bytes=1,
                     model_bytes=1, stack_bytes=1)


def test_verify_sizes_the_arena_on_the_core_when_the_host_figure_is_too_small(tflm_examples, monkeypatch, tmp_path):
    """--verify CORE: a build whose setup() fails for the host-measured arena is probed with a generous one; the
    bundle is then sized on what the core used (plus the margin), says so, and verified again at that size."""
    from lanmsff_edge.firmware_export import tflm

    monkeypatch.setattr(tflm, "find_tree", lambda tree=None: "tree")
    monkeypatch.setattr(tflm, "require_tools", lambda *a, **k: {})
    declared = []

    def emulated(contents, core, tree, arena=None):
        settings = next(body for path, body in contents.items() if path.endswith("_model_settings.h")).decode()
        size = int(settings.split("TensorArenaSize = ")[1].split(";")[0])
        declared.append(arena or size)
        if arena is not None:  # the probe, with a generous arena: the core uses 12,000 bytes
            return _emulation(12_000, arena=arena)
        if size < 12_000:
            raise UserError(f"the bundle did not complete on the emulated {core.name}: {bundle_module.SETUP_FAILED} "
                            "(arena too small or an op missing); log: x")
        return _emulation(12_000, arena=size)

    monkeypatch.setattr(bundle_module, "_emulated", emulated)
    made = export_firmware(tflm_examples["hello_world"], tmp_path / "fw", verify="cortex-m55", rounding="double",
                           arena_margin="10%")
    host = made.arena_minimum
    assert host < 12_000 and declared[0] < 12_000 and declared[1] > 12_000  # host size, then the probe
    assert made.arena_size == 13_200 == declared[2]  # 12,000 + 10 %, rounded to 16 bytes, verified again
    manifest = json.loads((made.out / "bundle.json").read_text())
    assert manifest["arena"]["size"] == 13_200 and "cortex-m55" in manifest["arena"]["sized_for"]
    assert "TensorArenaSize = 13200;" in (made.out / "lanmsff_model_settings.h").read_text()
    assert manifest["verified"]["arena_used_bytes"] == 12_000

    # a budget the core's need exceeds is refused, nothing written
    with pytest.raises(UserError, match="needs 12,000 bytes of arena on this core"):
        export_firmware(tflm_examples["hello_world"], tmp_path / "fw2", verify="cortex-m55", rounding="double",
                        max_arena="8KB")
    assert not (tmp_path / "fw2").exists()


@pytest.mark.slow
def test_a_tensor_bundle_passes_its_golden_self_test_on_an_emulated_cortex_m7(tflm_examples, tmp_path):
    """Real TFLM + CMSIS-NN (double rounding: one small library, the dense model's ops only) under QEMU."""
    from test_emulation import TREE, needs_arm

    if needs_arm.args[0]:
        pytest.skip(needs_arm.kwargs["reason"])
    made = export_firmware(tflm_examples["hello_world"], tmp_path / "fw", verify="cortex-m7", tflm=TREE,
                           rounding="double")
    verified = made.manifest["verified"]
    assert verified["golden_ok"] and verified["self_test_passed"] and verified["output"] == made.golden_output
    assert verified["arena_used_bytes"] <= made.arena_size


def test_parity_compares_tensor_models_on_seeded_inputs_without_a_data_set(tflm_examples, int8_lanmsff):
    from lanmsff_edge.bench.parity_report import format_parity, run_parity

    report = run_parity([tflm_examples["micro_speech"]], limit=6, backends=("xnnpack", "reference", "tflm"))
    assert report["images"] == 6 and len(report["models"]) == 1
    entry = report["models"][0]
    assert {(p["a"], p["b"]) for p in entry["pairs"]} == {("xnnpack", "reference"), ("xnnpack", "tflm"),
                                                         ("reference", "tflm")}
    assert all(p["max_abs_diff"] is not None for p in entry["pairs"])
    assert set(entry["accuracy"].values()) == {None} and "no accuracy on random inputs" in format_parity(report)
    with pytest.raises(UserError, match="needs --dataset .* for image classifiers"):
        run_parity([int8_lanmsff.path], limit=6)
