"""info on a .tflite file: tensors and quantization, labels, ops, TFLite Micro and Edge TPU support."""
import json

import numpy as np

from lanmsff_edge.data.classes import FERPLUS_CLASSES


def test_info_on_an_int8_lanmsff_tells_how_to_feed_it(run_cli, int8_lanmsff, tmp_path):
    from ai_edge_litert.interpreter import Interpreter

    result = run_cli("info", "--model", int8_lanmsff.path, "--json", tmp_path / "info.json")
    assert result.exit_code == 0, result.output
    report = json.loads((tmp_path / "info.json").read_text())
    details = Interpreter(model_path=str(int8_lanmsff.path)).get_input_details()[0]
    scale, zero_point = details["quantization"]
    assert report["precision"] == "int8" and report["fully_integer"] and report["integer_io"]
    assert report["macs"] == int8_lanmsff.macs
    (tensor,) = report["inputs"]
    assert tensor["shape"] == [1, 64, 64, 1] and tensor["dtype"] == "int8"
    assert np.isclose(tensor["scale"], scale) and tensor["zero_point"] == zero_point
    assert f"feed q = round(x / {scale:.8g}) - {-zero_point}" in result.output
    assert report["face_classifier"] and "x = the gray face" in result.output
    assert report["labels"] is None and "--labels" in report["labels_source"]  # 8 outputs: named by no file
    named = run_cli("info", "--model", int8_lanmsff.path, "--labels", ",".join(FERPLUS_CLASSES))
    assert f"labels      {', '.join(FERPLUS_CLASSES)} (--labels)" in named.output
    wrong = run_cli("info", "--model", int8_lanmsff.path, "--labels", "a,b")
    assert wrong.exit_code == 1 and "2 label(s) but the model has 8 outputs" in wrong.output
    assert report["tflite_micro"] == {"supported": True, "missing_ops": []}
    assert report["edge_tpu"]["ops_total"] == sum(report["op_counts"].values())
    assert "TFLM        every op has a kernel" in result.output


def test_info_names_the_ops_tflite_micro_lacks_and_reads_float_files(run_cli, tiny_tflite, tmp_path):
    result = run_cli("info", "--model", tiny_tflite("gelu_int8"))
    assert result.exit_code == 0, result.output
    assert "TFLM        no kernel for: GELU" in result.output
    result = run_cli("info", "--model", tiny_tflite("float"), "--json", tmp_path / "float.json")
    report = json.loads((tmp_path / "float.json").read_text())
    assert report["precision"] == "float32" and report["inputs"][0]["scale"] is None
    assert "feed q" not in result.output and report["macs"] == 4608 + 2304 + 1728 + 15 + 60
    assert report["labels"] is None  # two outputs: not a classifier


def test_info_on_a_file_that_is_not_a_model_is_one_line(run_cli, tmp_path):
    bogus = tmp_path / "bogus.tflite"
    bogus.write_bytes(b"not a flatbuffer at all")
    result = run_cli("info", "--model", bogus)
    assert result.exit_code == 1 and "is not a .tflite model" in result.output
    assert "Traceback" not in result.output


def test_info_describes_models_that_are_not_face_classifiers_as_they_are(run_cli, tflm_examples, tmp_path):
    """TFLite Micro's own int8 models: no face instructions, no invented labels, every MAC-bearing op counted."""
    from lanmsff_edge.tflite_graph import read_tflite

    reports = {}
    for name, path in tflm_examples.items():
        result = run_cli("info", "--model", path, "--json", tmp_path / f"{name}.json")
        assert result.exit_code == 0, (name, result.output)
        reports[name] = json.loads((tmp_path / f"{name}.json").read_text())
        assert not reports[name]["face_classifier"] and "gray face" not in result.output, name
        assert reports[name]["labels"] is None and "class_0" not in result.output, name
        assert reports[name]["macs_not_counted"] == {} and "not counted" not in result.output, name
    if "lstm" in reports:  # the int8 LSTM: its empty float32 gate intermediates are no activations
        lstm = reports["lstm"]
        assert lstm["fully_integer"] and lstm["precision"] == "int8"
        graph = read_tflite(tflm_examples["lstm"])
        (op,) = [op for op in graph.ops if op.name == "UNIDIRECTIONAL_SEQUENCE_LSTM"]
        cells, features = graph.tensors[op.inputs[4]].shape
        steps = graph.tensors[op.inputs[0]].shape[1]
        assert op.macs == steps * 4 * cells * (features + cells)  # 4 gates × (input + recurrent) per step
    if "keyword_scrambled" in reports:
        graph = read_tflite(tflm_examples["keyword_scrambled"])
        svdf = [op for op in graph.ops if op.name == "SVDF"]
        assert svdf and all(op.macs > 0 for op in svdf)
        assert reports["keyword_scrambled"]["precision"] == "int16x8"


def test_info_says_which_ops_it_cannot_count(run_cli, tiny_tflite, tmp_path):
    result = run_cli("info", "--model", tiny_tflite("flex"), "--json", tmp_path / "flex.json")
    assert result.exit_code == 0, result.output
    assert json.loads((tmp_path / "flex.json").read_text())["macs_not_counted"] == {"CUSTOM:FlexCumprod": 1}
    assert "not counted: CUSTOM:FlexCumprod ×1" in result.output
