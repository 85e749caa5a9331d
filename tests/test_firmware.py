"""export-firmware: the bundle is complete, self-describing and agrees with TFLite Micro; bad input leaves nothing."""
import hashlib
import json
import os
import re
import shutil

import numpy as np
import pytest

from lanmsff_edge.data.classes import FER2013_CLASSES, FERPLUS_CLASSES
from lanmsff_edge.errors import UserError
from lanmsff_edge.firmware_export import export_firmware
from lanmsff_edge.firmware_export.golden import drawn_face, quantize_input
from lanmsff_edge.memory.fit import parse_margin
from lanmsff_edge.runtimes import micro
from lanmsff_edge.tflite_graph import read_tflite


def model_bytes_from_cc(text):
    body = text[text.index("g_lanmsff_model_data[] = {"):text.index("};")]
    return bytes(int(h, 16) for h in re.findall(r"0x([0-9a-f]{2})", body))


def constants(text):
    """``constexpr int|float kName = value;`` → {name: number}."""
    values = {}
    for kind, name, value in re.findall(r"constexpr (int|float) (\w+) = ([^;]+);", text):
        if kind == "float":
            values[name] = np.float32(float(value.rstrip("f")))
        elif re.fullmatch(r"-?\d+", value.strip()):
            values[name] = int(value)
    return values


def c_array(text, name):
    body = re.search(rf"{name}\[[^\]]*\] = \{{(.*?)\}};", text, re.S).group(1)
    return np.array([int(v) for v in re.findall(r"-?\d+", body)])


def leftovers(folder):
    return [p.name for p in folder.iterdir() if p.name.startswith(".")]


@pytest.fixture(scope="module")
def bundle(int8_lanmsff, tmp_path_factory):
    out = tmp_path_factory.mktemp("fw") / "bundle"
    return export_firmware(int8_lanmsff.path, out, name="lanmsff", rounding="double")


@pytest.mark.slow
def test_plain_bundle_has_every_file(bundle):
    names = sorted(p.name for p in bundle.out.iterdir())
    assert names == sorted(["lanmsff_model_data.cc", "lanmsff_model_data.h", "lanmsff_op_resolver.h",
                            "lanmsff_model_settings.h", "lanmsff_preprocess.h", "lanmsff_golden.h",
                            "image_provider.h", "image_provider.cc", "expression_responder.h",
                            "expression_responder.cc", "main_functions.cc", "main_functions.h", "main.cc", "README.md",
                            "bundle.json"])
    assert not leftovers(bundle.out.parent)


@pytest.mark.slow
def test_loop_gets_invokes_and_responds_through_weak_platform_hooks(bundle):
    main = (bundle.out / "main_functions.cc").read_text()
    loop = main[main.index("void loop() {"):]
    assert loop.index("GetImage(") < loop.index("Invoke()") < loop.index("RespondToExpression(")
    setup = main[main.index("void setup() {"):main.index("void loop() {")]
    assert "LanmsffRunSelfTest();" in setup  # the golden self-test still runs once, at boot
    provider = (bundle.out / "image_provider.cc").read_text()
    assert "__attribute__((weak)) TfLiteStatus GetImage(" in provider and "g_lanmsff_golden_image" in provider
    responder = (bundle.out / "expression_responder.cc").read_text()
    assert "__attribute__((weak)) void RespondToExpression(" in responder and "MicroPrintf" in responder
    for header in ("image_provider.h", "expression_responder.h"):  # only the definitions are weak
        assert "__attribute__" not in (bundle.out / header).read_text()
    readme = (bundle.out / "README.md").read_text()
    assert "## Plugging in a camera and a responder" in readme
    assert "`image_provider.cc`" in readme and "`expression_responder.cc`" in readme  # the file table
    assert "TfLiteStatus GetImage(" in readme and "void RespondToExpression(" in readme


@pytest.mark.slow
def test_model_array_is_aligned_and_parses_back_to_the_tflite_file(bundle, int8_lanmsff):
    text = (bundle.out / "lanmsff_model_data.cc").read_text()
    assert "alignas(16) const unsigned char g_lanmsff_model_data[]" in text
    data = int8_lanmsff.path.read_bytes()
    assert model_bytes_from_cc(text) == data
    assert f"g_lanmsff_model_data_len = {len(data)};" in text


@pytest.mark.slow
def test_op_resolver_registers_exactly_the_models_ops(bundle, int8_lanmsff):
    text = (bundle.out / "lanmsff_op_resolver.h").read_text()
    calls = re.findall(r"resolver\.(Add\w+)\(\)", text)
    graph = read_tflite(int8_lanmsff.path)
    assert sorted(calls) == sorted(micro.TFLM_BUILTIN_OPS[op] for op in graph.op_set)
    assert len(calls) == len(set(calls)) == len(graph.op_set) == 17
    assert f"tflite::MicroMutableOpResolver<{len(calls)}>" in text
    assert "AddConv2D" in calls and "AddTransposeConv" in calls and "AddMaxPool2D" in calls


@pytest.mark.slow
def test_settings_describe_the_model_and_the_measured_arena(bundle, int8_lanmsff):
    text = (bundle.out / "lanmsff_model_settings.h").read_text()
    values = constants(text)
    graph = read_tflite(int8_lanmsff.path)
    x, y = graph.inputs[0], graph.outputs[0]
    assert values["kLanmsffInputScale"] == np.float32(x.scale)  # 9 digits round-trip the float32 exactly
    assert values["kLanmsffInputZeroPoint"] == x.zero_point
    assert values["kLanmsffOutputScale"] == np.float32(y.scale)
    assert values["kLanmsffOutputZeroPoint"] == y.zero_point
    assert (values["kLanmsffNumRows"], values["kLanmsffNumCols"], values["kLanmsffNumChannels"]) == (64, 64, 1)
    assert re.findall(r'^\s+"(\w+)",$', text, re.M) == list(FERPLUS_CLASSES)
    minimum = micro.find_arena_size(int8_lanmsff.path)
    assert values["kLanmsffTensorArenaMinimum"] == minimum == bundle.arena_minimum
    assert values["kLanmsffTensorArenaSize"] == bundle.arena_size == -(-(minimum + -(-minimum // 10)) // 16) * 16
    assert "min-max" in text and "64x64 grayscale" in text


@pytest.mark.slow
def test_written_arena_allocates_and_one_kilobyte_below_the_margin_does_not(bundle, int8_lanmsff):
    values = constants((bundle.out / "lanmsff_model_settings.h").read_text())
    size = values["kLanmsffTensorArenaSize"]
    margin = bundle.arena_margin
    assert micro.allocates(int8_lanmsff.path, size)
    assert not micro.allocates(int8_lanmsff.path, size - margin - 1024)


@pytest.mark.slow
def test_golden_output_is_exactly_what_tflite_micro_produces(bundle, int8_lanmsff):
    text = (bundle.out / "lanmsff_golden.h").read_text()
    image = c_array(text, "g_lanmsff_golden_image").astype(np.uint8).reshape(64, 64)
    golden_input = c_array(text, "g_lanmsff_golden_input").astype(np.int8)
    golden_output = c_array(text, "g_lanmsff_golden_output").astype(np.int8)
    graph = read_tflite(int8_lanmsff.path)
    x = graph.inputs[0]
    # The input is the image through the documented preprocessing...
    np.testing.assert_array_equal(quantize_input(image, x.scale, x.zero_point).reshape(-1), golden_input)
    # ...and the output is what a fresh TFLM interpreter (with the bundle's arena) returns for it.
    interpreter = micro.load(int8_lanmsff.path, constants(
        (bundle.out / "lanmsff_model_settings.h").read_text())["kLanmsffTensorArenaSize"])
    produced = micro.invoke(interpreter, golden_input.reshape(1, 64, 64, 1))[0].reshape(-1)
    np.testing.assert_array_equal(produced, golden_output)
    assert len(set(golden_output.tolist())) > 1, "the golden scores should not be flat"
    top = constants(text)["kLanmsffGoldenTopIndex"]
    assert top == int(np.argmax(golden_output)) == bundle.golden_top
    # the face's generated class and the expected answer are told apart (they need not agree)
    readme = (bundle.out / "README.md").read_text()
    assert "drawn as" not in readme + text and "generated for the class 'happiness'" in readme
    assert "expects this model's own answer" in readme and "not an accuracy test" in text


@pytest.mark.slow
def test_manifest_checksums_and_facts(bundle, int8_lanmsff):
    manifest = json.loads((bundle.out / "bundle.json").read_text())
    data = int8_lanmsff.path.read_bytes()
    assert manifest["model"]["sha256"] == hashlib.sha256(data).hexdigest()
    assert manifest["model"]["bytes"] == len(data)
    assert manifest["model"]["macs"] == int8_lanmsff.macs
    assert manifest["arena"]["size"] == bundle.arena_size and manifest["arena"]["granularity"] == 16
    assert manifest["layout"] == "plain" and manifest["name"] == "lanmsff"
    assert manifest["ops"] == read_tflite(int8_lanmsff.path).op_names
    assert manifest["golden"]["output"] == bundle.golden_output
    for path, facts in manifest["files"].items():
        body = (bundle.out / path).read_bytes()
        assert facts == {"bytes": len(body), "sha256": hashlib.sha256(body).hexdigest()}
    assert set(manifest["files"]) | {"bundle.json"} == {p.name for p in bundle.out.iterdir()}
    assert [b["board"] for b in manifest["boards"]] == ["stm32h743", "stm32f746", "esp32s3", "nrf5340", "rp2040",
                                                        "imxrt1062", "nano33ble"]
    assert all(b["latency_assumption"] and b["latency_ms_estimate"] > 0 for b in manifest["boards"])


@pytest.mark.slow
def test_readme_states_flash_ram_and_board_fit(bundle):
    readme = (bundle.out / "README.md").read_text()
    assert f"{bundle.model_bytes:,}" in readme and f"{bundle.arena_size:,}" in readme
    assert "STM32H743" in readme and "Arduino Nano 33 BLE" in readme and "ESTIMATE" in readme
    assert "MicroMutableOpResolver" in readme or "OpResolver" in readme
    assert "@@" not in readme


@pytest.mark.slow
def test_cli_cmake_layout_custom_name_margin_and_labels(run_cli, int8_lanmsff, tmp_path):
    out = tmp_path / "fw"
    labels = ",".join(f"expr{i}" for i in range(8))
    result = run_cli("export-firmware", "--model", int8_lanmsff.path, "--out", out, "--name", "fer",
                     "--layout", "cmake", "--arena-margin", "8KB", "--labels", labels, "--rounding", "double")
    assert result.exit_code == 0, result.output
    assert "arena" in result.output and "STM32H743" in result.output and "estimate" in result.output
    cmake = (out / "CMakeLists.txt").read_text()
    assert 'set(TFLM_DIR "" CACHE PATH' in cmake and "-DTFLM_DIR" in cmake
    for source in re.findall(r"\b([\w]+\.cc)\b", cmake):
        assert (out / source).is_file(), source
    settings = (out / "fer_model_settings.h").read_text()
    values = constants(settings)
    assert values["kFerTensorArenaSize"] == -(-(values["kFerTensorArenaMinimum"] + 8192) // 16) * 16
    assert re.findall(r'^\s+"(\w+)",$', settings, re.M) == labels.split(",")
    assert "g_fer_model_data" in (out / "fer_model_data.h").read_text()
    assert json.loads((out / "bundle.json").read_text())["labels_source"] == "--labels"


@pytest.mark.slow
def test_arduino_layout_is_a_library(int8_lanmsff, tmp_path):
    out = tmp_path / "Lanmsff"
    export_firmware(int8_lanmsff.path, out, layout="arduino", rounding="double")
    properties = dict(line.split("=", 1) for line in (out / "library.properties").read_text().splitlines())
    assert properties["name"] == "Lanmsff" and properties["includes"] == "lanmsff.h"
    assert {"version", "author", "maintainer", "sentence", "paragraph", "category", "url", "architectures"} <= set(
        properties)
    assert sorted(p.name for p in (out / "src").iterdir()) == sorted(
        ["lanmsff.h", "lanmsff_model_data.cc", "lanmsff_model_data.h", "lanmsff_model_settings.h",
         "lanmsff_op_resolver.h", "lanmsff_preprocess.h"])
    sketch = (out / "examples" / "lanmsff" / "lanmsff.ino").read_text()
    assert sketch.index("#include <TensorFlowLite.h>") < sketch.index("#include <lanmsff.h>")
    assert "void setup()" in sketch and "void loop()" in sketch
    assert (out / "examples" / "lanmsff" / "lanmsff_golden.h").is_file()
    for hook in ("image_provider.h", "image_provider.cpp", "expression_responder.h", "expression_responder.cpp"):
        assert (out / "examples" / "lanmsff" / hook).is_file()
    assert sketch.index('#include "image_provider.h"') < sketch.index("void loop()")


@pytest.mark.slow
def test_labels_from_the_quantize_sidecar_and_a_wrong_count_is_refused(int8_lanmsff, tmp_path):
    model = tmp_path / "m_int8.tflite"
    shutil.copy(int8_lanmsff.path, model)
    sidecar = {"mode": "int8", "class_names": [f"c{i}" for i in range(8)]}
    (tmp_path / "m_int8.json").write_text(json.dumps(sidecar))
    bundle = export_firmware(model, tmp_path / "a", rounding="double")
    assert bundle.labels == tuple(sidecar["class_names"])
    (tmp_path / "m_int8.json").write_text(json.dumps({"class_names": list(FER2013_CLASSES)}))
    with pytest.raises(UserError, match="m_int8.json gives 7 label"):
        export_firmware(model, tmp_path / "b")
    assert not (tmp_path / "b").exists()


@pytest.mark.slow
def test_reexport_replaces_the_bundle_as_a_whole(int8_lanmsff, tmp_path):
    out = tmp_path / "fw"
    export_firmware(int8_lanmsff.path, out, layout="cmake", rounding="double")
    assert (out / "CMakeLists.txt").is_file()
    export_firmware(int8_lanmsff.path, out, layout="plain", rounding="double")
    assert not (out / "CMakeLists.txt").exists()
    assert json.loads((out / "bundle.json").read_text())["layout"] == "plain"
    assert not leftovers(tmp_path)


@pytest.mark.slow
def test_failure_while_writing_keeps_the_previous_bundle(int8_lanmsff, tmp_path, monkeypatch):
    out = tmp_path / "fw"
    export_firmware(int8_lanmsff.path, out, rounding="double")
    before = {p.name: p.read_bytes() for p in out.iterdir()}
    from pathlib import Path

    real_write = Path.write_bytes
    calls = []

    def failing_write(self, data):
        calls.append(self)
        if len(calls) == 4:
            raise OSError(28, "No space left on device")
        return real_write(self, data)

    monkeypatch.setattr(Path, "write_bytes", failing_write)
    with pytest.raises(UserError, match="No space left on device"):
        export_firmware(int8_lanmsff.path, out, name="other", rounding="double")
    monkeypatch.undo()
    assert {p.name: p.read_bytes() for p in out.iterdir()} == before
    assert not leftovers(tmp_path)


def test_float_model_is_refused_and_nothing_is_written(run_cli, tiny_tflite, tmp_path):
    out = tmp_path / "fw"
    result = run_cli("export-firmware", "--model", tiny_tflite("float"), "--out", out)
    assert result.exit_code == 1
    assert "Error: " in result.output and "not a full-integer model" in result.output
    assert "float32" in result.output and "Traceback" not in result.output
    assert not out.exists() and not leftovers(tmp_path)


def test_op_tflite_micro_lacks_is_refused_by_name(run_cli, tiny_tflite, tmp_path):
    out = tmp_path / "fw"
    result = run_cli("export-firmware", "--model", tiny_tflite("gelu_int8"), "--out", out)
    assert result.exit_code == 1
    assert "TFLite Micro has no kernel for: GELU" in result.output
    assert not out.exists()


def test_non_tflite_file_is_refused(run_cli, tmp_path):
    fake = tmp_path / "model.tflite"
    fake.write_text("not a flatbuffer")
    result = run_cli("export-firmware", "--model", fake, "--out", tmp_path / "fw")
    assert result.exit_code == 1
    assert f"{fake} is not a .tflite model" in result.output
    assert not (tmp_path / "fw").exists()


def test_unusable_output_directories_are_refused_before_any_work(tiny_tflite, tmp_path, monkeypatch):
    import lanmsff_edge.firmware_export.bundle as bundle_module

    # Everything below must fail before the model is measured.
    monkeypatch.setattr(bundle_module.micro, "find_arena_size", lambda *a, **k: pytest.fail("measured"))
    monkeypatch.setattr(bundle_module, "_validate_shapes", lambda *a: None)  # the tiny model is 8x8
    model = tiny_tflite("gelu_int8")
    monkeypatch.setattr(bundle_module.micro, "check_supported", lambda *a, **k: None)
    blocker = tmp_path / "file.txt"
    blocker.write_text("x")
    with pytest.raises(UserError, match="exists and is not a directory"):
        export_firmware(model, blocker)
    with pytest.raises(UserError, match="is not a directory"):
        export_firmware(model, blocker / "fw")
    foreign = tmp_path / "mine"
    foreign.mkdir()
    (foreign / "notes.txt").write_text("keep me")
    with pytest.raises(UserError, match="non-empty directory without a bundle.json"):
        export_firmware(model, foreign)
    assert (foreign / "notes.txt").read_text() == "keep me"
    if os.geteuid() != 0:  # root writes anywhere
        locked = tmp_path / "locked"
        locked.mkdir()
        locked.chmod(0o500)
        try:
            with pytest.raises(UserError, match="not writable"):
                export_firmware(model, locked / "fw")
            assert list(locked.iterdir()) == []
        finally:
            locked.chmod(0o700)


def test_bad_options_are_user_errors(tiny_tflite, tmp_path):
    model = tiny_tflite("gelu_int8")
    with pytest.raises(UserError, match="--name"):
        export_firmware(model, tmp_path / "fw", name="9lives")
    with pytest.raises(UserError, match="--layout"):
        export_firmware(model, tmp_path / "fw", layout="zephyr")
    assert not (tmp_path / "fw").exists()


@pytest.mark.parametrize("text, expected", [("10%", 1000), ("2.5%", 250), ("0%", 0), ("4096", 4096),
                                            ("8KB", 8192), ("8k", 8192), (" 12 % ", 1200)])
def test_arena_margin_parsing(text, expected):
    assert parse_margin(text, 10_000) == expected


@pytest.mark.parametrize("text", ["ten", "-5%", "5MB", "2000%", ""])
def test_bad_arena_margins(text):
    with pytest.raises(UserError, match="--arena-margin"):
        parse_margin(text, 10_000)


def test_quantize_input_matches_the_c_formula_and_saturates():
    face = drawn_face()
    assert face.shape == (64, 64) and face.dtype == np.uint8 and face.min() < 60 < 150 < face.max()
    q = quantize_input(face, 1.0 / 255.0, -128)
    assert q.dtype == np.int8 and q.min() == -128 and q.max() == 127  # min-max spans the full int8 range
    flat = quantize_input(np.full((64, 64), 77, np.uint8), 0.004, -128)
    assert np.all(flat == -128)  # a flat image normalises to 0
    assert np.all(quantize_input(face, 0.001, 0) == np.clip(np.floor(
        ((face.astype(np.float32) - face.min()) / np.float32(face.max() - face.min())) / np.float32(0.001)
        + np.float32(0.5)), -128, 127))


def test_label_sources_in_order_of_precedence(tmp_path):
    from lanmsff_edge.artifacts.labels import resolve_labels

    model = tmp_path / "m.tflite"
    assert resolve_labels(model, 8) == (FERPLUS_CLASSES, "FERPlus class order (8 outputs)")
    assert resolve_labels(model, 7)[0] == FER2013_CLASSES
    assert resolve_labels(model, 3)[0] == ("class_0", "class_1", "class_2")
    # The quantize command's report names the data set; its class order is the label order.
    (tmp_path / "m.json").write_text(json.dumps({"dataset": "fer2013", "variants": []}))
    assert resolve_labels(model, 7) == (FER2013_CLASSES, "sidecar m.json")
    # --labels wins over the sidecar: comma list, text file, JSON file.
    assert resolve_labels(model, 2, option="yes, no")[0] == ("yes", "no")
    (tmp_path / "l.txt").write_text("up\n\ndown\n")
    assert resolve_labels(model, 2, option=str(tmp_path / "l.txt"))[0] == ("up", "down")
    (tmp_path / "l.json").write_text(json.dumps({"labels": ["a", "b"]}))
    assert resolve_labels(model, 2, option=str(tmp_path / "l.json"))[0] == ("a", "b")
    with pytest.raises(UserError, match="--labels gives 3 label"):
        resolve_labels(model, 2, option="a,b,c")
    with pytest.raises(UserError, match=r"--labels has an empty label \(number 2 of 2\)"):
        resolve_labels(model, 2, option="a,")  # an empty name counts as wrong, and is named as such
