"""Kernel parity (bench --parity) and the op-by-op trace: the pair table equals a direct comparison of the
libraries' raw outputs, and on a model built to differ (a half-step tie, a double-rounding case) the numbers and
the first differing op are the ones worked out by hand."""
import json
import os
import shutil
from pathlib import Path

import flatbuffers
import numpy as np
import pytest
from ai_edge_litert import schema_py_generated as schema

from lanmsff_edge import parity
from lanmsff_edge.bench.models import open_model
from lanmsff_edge.bench.trace import trace
from lanmsff_edge.errors import UserError
from lanmsff_edge.runtimes import micro
from lanmsff_edge.runtimes.litert import LiteRTRuntime
from lanmsff_edge.tflite_slice import single_op_model


def _fully_connected_chain(layers):
    """An int8 model [1, 2] → FULLY_CONNECTED … → [1, 2]; ``layers``: (int8 weights 2×2, weight scale, int32
    bias) per op. Input, outputs and every activation have scale 1 and zero point 0, so op k computes
    round(scale_k · (W_k x + b_k)) and the rounding is all there is."""
    model = schema.ModelT()
    model.version = 3
    code = schema.OperatorCodeT()
    code.builtinCode = code.deprecatedBuiltinCode = schema.BuiltinOperator.FULLY_CONNECTED
    code.version = 4
    model.operatorCodes, model.buffers, tensors = [code], [schema.BufferT()], []

    def tensor(name, shape, dtype, scale, values=None):
        item = schema.TensorT()
        item.name, item.shape, item.type, item.buffer = name, list(shape), dtype, 0
        item.quantization = schema.QuantizationParametersT()
        item.quantization.scale, item.quantization.zeroPoint = [float(scale)], [0]
        if values is not None:
            buffer = schema.BufferT()
            buffer.data = np.frombuffer(np.ascontiguousarray(values).tobytes(), np.uint8).tolist()
            model.buffers.append(buffer)
            item.buffer = len(model.buffers) - 1
        tensors.append(item)
        return len(tensors) - 1

    x = first = tensor("input", (1, 2), schema.TensorType.INT8, 1.0)
    operators = []
    for index, (weights, scale, bias) in enumerate(layers):
        w = tensor(f"fc{index}/weights", (2, 2), schema.TensorType.INT8, scale, np.asarray(weights, np.int8))
        b = tensor(f"fc{index}/bias", (2,), schema.TensorType.INT32, scale, np.asarray(bias, np.int32))
        y = tensor(f"fc{index}", (1, 2), schema.TensorType.INT8, 1.0)
        op = schema.OperatorT()
        op.opcodeIndex, op.inputs, op.outputs = 0, [x, w, b], [y]
        op.builtinOptionsType = schema.BuiltinOptions.FullyConnectedOptions
        op.builtinOptions = schema.FullyConnectedOptionsT()
        operators.append(op)
        x = y
    graph = schema.SubGraphT()
    graph.tensors, graph.inputs, graph.outputs, graph.operators, graph.name = tensors, [first], [x], operators, "main"
    model.subgraphs = [graph]
    builder = flatbuffers.Builder(1024)
    builder.Finish(model.Pack(builder), file_identifier=b"TFL3")
    return bytes(builder.Output())


IDENTITY = np.eye(2, dtype=np.int8)


@pytest.fixture(scope="module")
def rounding_model():
    """Op 0 copies its input (multiplier 1: exact), op 1 computes round((2·x0) / 256) and round((2·x1 − 1) / 256)
    (multiplier 2^-8), op 2 copies op 1. For x0 = ±64 op 1's exact value is ±½: a tie (XNNPACK rounds half to even:
    0; the reference kernels and TFLite Micro half away from zero: ±1). For x1 = 64 it is 127/256 = 0.496: correctly
    rounded 0 (XNNPACK, LiteRT's reference FULLY_CONNECTED), but TFLite Micro rounds twice (to 1/128 of a step:
    63.5/128 → 64/128 = ½, then ½ → 1) and gets 1."""
    return _fully_connected_chain([(IDENTITY, 1.0, [0, 0]), (2 * IDENTITY, 2.0 ** -8, [0, -1]),
                                   (IDENTITY, 1.0, [0, 0])])


# inputs and each library's outputs, worked out by hand (see rounding_model)
ROUNDING_INPUTS = [[64, 10], [10, 64], [100, 10], [5, 6], [-64, 0]]
EXPECTED = {"xnnpack": [[0, 0], [0, 0], [1, 0], [0, 0], [0, 0]],
            "reference": [[1, 0], [0, 0], [1, 0], [0, 0], [-1, 0]],
            "tflm": [[1, 0], [0, 1], [1, 0], [0, 0], [-1, 0]]}


def _raw(rows):
    return [np.asarray([row], np.int8) for row in rows]


def test_parity_table_on_a_model_built_to_differ(rounding_model):
    result = parity.measure(rounding_model, _raw(ROUNDING_INPUTS), parity.DEFAULT_BACKENDS)
    assert all(backend["error"] is None for backend in result.backends.values())
    for name, outputs in EXPECTED.items():
        assert result.outputs[name].tolist() == outputs, name
    pairs = {(p["a"], p["b"]): p for p in result.pairs}
    assert list(pairs) == [("xnnpack", "reference"), ("xnnpack", "tflm"), ("reference", "tflm")]
    # (images differing, images whose top-1 differs); top-1 = argmax, the lower class wins a tie
    expected = {("xnnpack", "reference"): (2, 1), ("xnnpack", "tflm"): (3, 2), ("reference", "tflm"): (1, 1)}
    for key, (differing, top1) in expected.items():
        pair = pairs[key]
        assert (pair["max_abs_diff"], pair["images_differing"], pair["top1_differing"]) == (1, differing, top1), key
        assert pair["top1_agreement"] == pytest.approx(1 - top1 / 5)
        assert pair["images_by_max_diff"] == {"0": 5 - differing, "1": differing}
        assert pair["top1_differing_max_margin"] == 1  # [0, 0] against [0, 1] or [-1, 0]: one step apart
        assert pair["unit"] == "quantization steps"


def test_trace_names_the_first_differing_op_and_why(rounding_model):
    result = trace(rounding_model, _raw(ROUNDING_INPUTS))
    assert result["preserved_run_matches_plain"] == 5
    first = result["first_differing_op"]
    assert (first["index"], first["name"], first["output"]) == (1, "FULLY_CONNECTED", "fc1")
    assert result["first_own_difference"]["index"] == 1
    ops = result["ops"]
    assert [row["cumulative_max"] for row in ops] == [0, 1, 1]
    assert [row["own_max"] for row in ops] == [0, 1, 0]  # op 2 only passes op 1's difference on
    assert [row["cumulative_images"] for row in ops] == [0, 2, 2]
    assert result["propagated_only_ops"] == [2]
    assert result["dead_ops"] == []
    assert ops[1]["kernels"]["xnnpack"] == "XNNPACK"
    # both differing elements of op 1 are exact ties; the replicas of both requantizations reproduce every output
    rounding = ops[1]["rounding"]
    assert (rounding["elements"], rounding["tie"], rounding["xnnpack_off"], rounding["reference_off"]) == (2, 2, 0, 0)
    assert rounding["xnnpack_replica_match"] == rounding["reference_replica_match"] == rounding["outputs"] == 4


def test_trace_finds_nothing_where_the_libraries_agree(rounding_model):
    result = trace(rounding_model, _raw([[100, 10], [5, 6]]))
    assert result["first_differing_op"] is None and result["first_own_difference"] is None
    assert all(row["cumulative_max"] == 0 and row["own_max"] == 0 for row in result["ops"])


def _direct(path, inputs):
    """Each library's raw outputs for the raw inputs, run here without the parity module."""
    direct = {kernels: np.stack([LiteRTRuntime(path, kernels=kernels).invoke_raw(x).reshape(-1) for x in inputs])
              for kernels in ("auto", "reference")}
    data = path.read_bytes()
    interpreter = micro.load(data, micro.find_arena_size(data) + 16 * 1024)
    direct["tflm"] = np.stack([micro.invoke(interpreter, x)[0].reshape(-1) for x in inputs])
    return {"xnnpack": direct["auto"], "reference": direct["reference"], "tflm": direct["tflm"]}


def test_parity_table_of_an_int8_lanmsff_equals_a_direct_comparison(int8_lanmsff):
    from lanmsff_edge.data.common import to_model_input
    from lanmsff_edge.data.synthetic import generate

    faces = generate("val", size=12, seed=5).images
    model = open_model(int8_lanmsff.path)
    inputs = parity.raw_inputs(model, faces)
    litert = LiteRTRuntime(int8_lanmsff.path)
    assert all(np.array_equal(x, litert.quantize_input(to_model_input(faces[i:i + 1])))
               for i, x in enumerate(inputs))
    result = parity.measure(model.data, inputs)
    direct = _direct(int8_lanmsff.path, inputs)
    for pair in result.pairs:
        a, b = direct[pair["a"]].astype(int), direct[pair["b"]].astype(int)
        worst = np.abs(a - b).max(axis=1)
        assert pair["images"] == 12
        assert pair["max_abs_diff"] == worst.max()
        assert pair["images_differing"] == np.count_nonzero(worst)
        assert pair["top1_agreement"] == pytest.approx(np.mean(a.argmax(1) == b.argmax(1)))
        changed = [i for i in range(12) if a[i].argmax() != b[i].argmax()]
        gaps = [max(a[i].max() - a[i, b[i].argmax()], b[i].max() - b[i, a[i].argmax()]) for i in changed]
        assert pair["top1_differing_max_margin"] == (max(gaps) if gaps else None)
        assert sum(pair["images_by_max_diff"].values()) == 12


def test_single_op_models_compute_what_the_op_computes_in_the_whole_model(int8_lanmsff):
    """Every op of an int8 LANMSFF (multi-input CONCATENATION, multi-output SPLIT, RESHAPE …) cut out alone and fed
    the whole model's intermediates gives, with the reference kernels, exactly the whole model's tensor."""
    from lanmsff_edge.runtimes.litert import open_interpreter
    from lanmsff_edge.tflite_graph import read_tflite

    data = int8_lanmsff.path.read_bytes()
    whole = LiteRTRuntime(data, kernels="reference", preserve_all_tensors=True)
    x = whole.quantize_input(int8_lanmsff.calibration[:1])
    whole.invoke_raw(x)
    graph = read_tflite(data)
    for op in graph.ops:
        piece = single_op_model(data, op.index)
        interpreter = open_interpreter(piece.data, kernels="reference")[0]
        for detail, index in zip(interpreter.get_input_details(), piece.inputs):
            interpreter.set_tensor(detail["index"], whole.tensor(index))
        interpreter.invoke()
        outputs = [interpreter.get_tensor(d["index"]) for d in interpreter.get_output_details()]
        assert piece.outputs == op.outputs
        for got, index in zip(outputs, op.outputs):
            assert np.array_equal(got, whole.tensor(index)), (op.index, op.name)


def test_trace_of_an_int8_lanmsff_explains_every_analysed_element(int8_lanmsff):
    model = open_model(int8_lanmsff.path)
    litert = LiteRTRuntime(model.data)
    inputs = [litert.quantize_input(int8_lanmsff.calibration[i:i + 1]) for i in range(2)]
    result = trace(model.data, inputs)
    assert result["images"] == 2 and result["preserved_run_matches_plain"] == 2
    rows = result["ops"]
    assert len(rows) == len(model.graph.ops) and all(row["own_max"] is not None for row in rows)
    first = result["first_differing_op"]  # this seeded model's first convolution already rounds differently
    assert first is not None and first["index"] == next(row["index"] for row in rows if row["cumulative_max"])
    assert any("rounding" in row for row in rows)
    for row in rows:
        if "rounding" in row:  # the replicas reproduce what both libraries returned, element for element
            counts = row["rounding"]
            assert counts["xnnpack_replica_match"] == counts["reference_replica_match"] == counts["outputs"], row
            explained = counts["tie"] + counts["xnnpack_off"] + counts["reference_off"] + counts["both_off"]
            assert explained == counts["elements"]


def test_backend_names_are_checked():
    assert parity.backend_names("xnnpack, tflm") == ("xnnpack", "tflm")
    for text, message in (("xnnpack,npu", "unknown parity backend"), ("tflm", "two or more"),
                          ("tflm,tflm", "two or more")):
        with pytest.raises(UserError, match=message):
            parity.backend_names(text)


def test_a_registered_backend_joins_the_table(rounding_model):
    answers = {tuple(x): y for x, y in zip(ROUNDING_INPUTS, EXPECTED["tflm"])}

    def start(data, threads):
        return lambda x: np.asarray(answers[tuple(x.reshape(-1).tolist())], np.int8)

    parity.register_backend("test_core", "an emulated core that computes what TFLite Micro computes", start)
    try:
        result = parity.measure(rounding_model, _raw(ROUNDING_INPUTS), ("tflm", "test_core", "xnnpack"))
    finally:
        del parity.BACKENDS["test_core"]
    pairs = {(p["a"], p["b"]): p for p in result.pairs}
    assert pairs[("tflm", "test_core")]["images_differing"] == 0
    assert pairs[("test_core", "xnnpack")]["images_differing"] == 3


def test_a_backend_that_cannot_run_the_model_is_reported_not_fatal(rounding_model):
    def start(data, threads):
        raise parity.BackendError("this core has no FULLY_CONNECTED")

    parity.register_backend("test_broken", "a core without kernels", start)
    try:
        result = parity.measure(rounding_model, _raw(ROUNDING_INPUTS), ("xnnpack", "test_broken", "reference"))
    finally:
        del parity.BACKENDS["test_broken"]
    assert result.backends["test_broken"]["error"] == "this core has no FULLY_CONNECTED"
    assert [(p["a"], p["b"]) for p in result.pairs] == [("xnnpack", "reference")]


# ------------------------------------------------------------------------------------------------------- CLI

def test_cli_parity_prints_the_table_and_writes_json_and_markdown(run_cli, int8_lanmsff, tmp_path):
    result = run_cli("bench", "--parity", "--trace", "--model", int8_lanmsff.path, "--dataset", "synthetic",
                     "--limit", 3, "--json", tmp_path / "p.json", "--markdown", tmp_path / "p.md")
    assert result.exit_code == 0, result.output
    assert "Kernel parity on synthetic val (3 images)" in result.output
    for pair in ("xnnpack vs reference", "xnnpack vs tflm", "reference vs tflm"):
        assert pair in result.output
    report = json.loads((tmp_path / "p.json").read_text())
    assert (report["kind"], report["images"], report["split"]) == ("parity", 3, "val")
    (entry,) = report["models"]
    assert len(entry["pairs"]) == 3 and entry["trace"]["images"] == 3
    assert set(entry["accuracy"]) == {"xnnpack", "reference", "tflm"}
    assert "| xnnpack vs reference |" in (tmp_path / "p.md").read_text().replace(f"{entry['model']} ", "")


@pytest.mark.parametrize("args, message", [
    (("--trace",), "--trace is part of --parity"),
    (("--parity",), "--parity needs --dataset"),
    (("--parity", "--dataset", "synthetic", "--runs", 3), "drop --runs"),
    (("--parity", "--dataset", "synthetic", "--device", "mcu"), "drop --device"),
])
def test_cli_parity_user_errors_are_one_line(run_cli, int8_lanmsff, args, message):
    result = run_cli("bench", "--model", int8_lanmsff.path, *args)
    assert result.exit_code == 1 and message in result.output, result.output
    assert "Traceback" not in result.output and len(result.output.strip().splitlines()) == 1


def test_cli_parity_backends_are_a_click_type(run_cli, int8_lanmsff):
    result = run_cli("bench", "--model", int8_lanmsff.path, "--parity", "--backends", "xnnpack,npu")
    assert result.exit_code == 2 and "unknown parity backend(s) npu" in result.output


def test_a_parity_report_becomes_the_card_record_of_the_same_int8_file(int8_lanmsff, tmp_path):
    import shutil

    from lanmsff_edge.bench.parity_report import run_parity, write_parity_json
    from lanmsff_edge.pretrained import package

    installed = tmp_path / "package"
    installed.mkdir()
    shutil.copyfile(int8_lanmsff.path, installed / "lanmsff_ferplus_int8.tflite")
    card_path = installed / "lanmsff_ferplus.json"
    card_path.write_text(json.dumps({"dataset": "synthetic", "data": {"splits": {"val": {"size": 3}}}}))
    report = run_parity([installed / "lanmsff_ferplus_int8.tflite"], dataset="synthetic", limit=3, trace=True)
    write_parity_json(report, tmp_path / "parity.json")
    card = package.set_parity("ferplus", tmp_path / "parity.json", installed)
    assert json.loads(card_path.read_text()) == card
    record, (entry,) = card["parity"], report["models"]
    assert (record["split"], record["images"], record["sha256"]) == ("val", 3, entry["sha256"])
    assert [(p["a"], p["b"], p["max_abs_diff"]) for p in record["pairs"]] == \
        [(p["a"], p["b"], p["max_abs_diff"]) for p in entry["pairs"]]
    assert record["trace"]["first_differing_op"] == entry["trace"]["first_differing_op"]
    text = "\n".join(package.parity_markdown(record, "synthetic"))
    assert "| xnnpack vs reference |" in text and "all 3 synthetic validation images" in text
    named = "\n".join(package.parity_markdown(record, "synthetic", "ferplus-w0.5"))
    assert "Kernel parity of `ferplus-w0.5` int8 on all 3 synthetic validation images" in named
    for change, message in (({"images": 2}, "whole validation split"), ({"split": "train"}, "whole validation split"),
                            ({"models": [dict(entry, sha256="0" * 64)]}, "has no parity entry")):
        write_parity_json({**report, **change}, tmp_path / "other.json")
        with pytest.raises(UserError, match=message):
            package.set_parity("ferplus", tmp_path / "other.json", installed)


@pytest.mark.slow
def test_a_keras_model_is_compared_as_its_int8_conversion(tiny_lanmsff):
    from lanmsff_edge.bench.parity_report import run_parity

    _, path = tiny_lanmsff
    report = run_parity([path], dataset="synthetic", limit=2, backends=("xnnpack", "tflm"))
    (entry,) = report["models"]
    assert entry["model"] == "tiny_int8.tflite" and entry["precision"] == "int8"
    assert [(p["a"], p["b"], p["images"]) for p in entry["pairs"]] == [("xnnpack", "tflm", 2)]
    assert any("converted from tiny.keras" in note for note in entry["notes"])


SHARED_TREE = Path(__file__).resolve().parents[1].parent / "shared" / "tflm" / "tflm-tree.tar.gz"
TREE = os.environ.get("TFLM_DIR") or (str(SHARED_TREE) if SHARED_TREE.is_file() else None)


@pytest.mark.slow
@pytest.mark.skipif(not (TREE and shutil.which("g++") and shutil.which("make")),
                    reason="needs g++, make and a TFLM tree")
def test_tflm_single_rounds_once_half_up_on_the_model_built_to_differ(rounding_model, int8_lanmsff):
    # op 1 by hand, rounded once, half up: x0 = 64 → ½ → 1, x0 = −64 → −½ → 0, x1 = 64 → 127/256 → 0 (where the
    # double-rounding tflm gives 1): XNNPACK's answers except at the exact tie ½ (XNNPACK: half to even → 0)
    from lanmsff_edge.firmware_export import tflm
    from lanmsff_edge.firmware_export.host import HostMicro

    # the LANMSFF op set's runner (FULLY_CONNECTED among them): the library other tests build, not one more
    runner = HostMicro(rounding_model, tflm.find_tree(TREE), "single", micro.resolver_methods(int8_lanmsff.path))
    single = [runner.invoke(x)[0].reshape(-1).tolist() for x in _raw(ROUNDING_INPUTS)]
    runner.close()
    assert single == [[1, 0], [0, 0], [1, 0], [0, 0], [0, 0]]
    assert sum(a != b for a, b in zip(single, EXPECTED["xnnpack"])) == 1  # the tie only
    assert sum(a != b for a, b in zip(single, EXPECTED["tflm"])) == 2
