"""tflite_graph: ops, tensors and quantization agree with LiteRT's own view of the file; MACs are exact."""
import numpy as np
import pytest

from lanmsff_edge.errors import UserError
from lanmsff_edge.tflite_graph import MAC_OPS, is_tflite, read_tflite


def _litert(path):
    from ai_edge_litert.interpreter import Interpreter

    interpreter = Interpreter(model_path=str(path))
    return interpreter


def test_exact_macs_per_op_on_known_layer_sizes(tiny_tflite):
    graph = read_tflite(tiny_tflite("float"))
    # conv 8*8*4 out * 3*3*2 kernel; depthwise 8*8*4 * 3*3; transpose: 4*4*4 inputs scatter 3*3*3;
    # dense 3 -> 5; batch matmul [1,3,4] x [1,4,5].
    assert graph.macs_by_op == {"CONV_2D": 4608, "DEPTHWISE_CONV_2D": 2304, "TRANSPOSE_CONV": 1728,
                                "FULLY_CONNECTED": 15, "BATCH_MATMUL": 60}
    assert graph.macs == 4608 + 2304 + 1728 + 15 + 60
    assert all(op.macs == 0 for op in graph.ops if op.name not in MAC_OPS)


@pytest.mark.slow
def test_lanmsff_int8_graph_matches_litert_and_keras(int8_lanmsff):
    graph = read_tflite(int8_lanmsff.path)
    interpreter = _litert(int8_lanmsff.path)
    litert_ops = [op["op_name"] for op in interpreter._get_ops_details()]
    assert [op.name for op in graph.ops] == litert_ops
    assert graph.op_set == {"ADD", "CONCATENATION", "CONV_2D", "DEPTHWISE_CONV_2D", "FULLY_CONNECTED", "LOGISTIC",
                            "MAX_POOL_2D", "MEAN", "MINIMUM", "MUL", "RELU", "RESHAPE", "SOFTMAX", "SPLIT", "SUB",
                            "TRANSPOSE", "TRANSPOSE_CONV"}
    assert graph.custom_ops == []
    for mine, theirs in ((graph.inputs[0], interpreter.get_input_details()[0]),
                         (graph.outputs[0], interpreter.get_output_details()[0])):
        assert mine.index == theirs["index"]
        assert mine.name == theirs["name"]
        assert list(mine.shape) == list(theirs["shape"])
        assert mine.dtype == np.dtype(theirs["dtype"]).name == "int8"
        assert mine.scale == pytest.approx(theirs["quantization"][0])
        assert mine.zero_point == theirs["quantization"][1]
    # Per-channel conv weights: one scale per output channel, along axis 0.
    weights = [graph.tensors[op.inputs[1]] for op in graph.ops if op.name == "CONV_2D"]
    assert all(w.constant and w.dtype == "int8" and len(w.scales) == w.shape[0] for w in weights)
    assert graph.fully_integer and graph.integer_io
    assert graph.schema_version == 3 and graph.subgraph_count == 1
    # The flatbuffer's MACs are the Keras graph's MACs (BN folded, separable split into depthwise + 1x1).
    assert graph.macs == int8_lanmsff.macs
    summary = graph.summary()
    assert summary["macs"] == graph.macs and summary["inputs"][0]["shape"] == [1, 64, 64, 1]


def test_float_and_flex_models_are_not_fully_integer(tiny_tflite):
    graph = read_tflite(tiny_tflite("float"))
    assert not graph.fully_integer and not graph.integer_io
    assert graph.float_constants  # float32 weights
    flex = read_tflite(tiny_tflite("flex"))
    assert flex.custom_ops == ["FlexCumprod"]
    assert flex.op_names[0] == "CUSTOM:FlexCumprod" and not flex.ops[0].builtin
    assert read_tflite(tiny_tflite("gelu_int8")).fully_integer


def test_bytes_and_path_give_the_same_graph(tiny_tflite):
    path = tiny_tflite("float")
    from_path, from_bytes = read_tflite(path), read_tflite(path.read_bytes())
    assert from_path.op_names == from_bytes.op_names
    assert [t.as_dict() for t in from_path.tensors] == [t.as_dict() for t in from_bytes.tensors]
    assert from_path.size_bytes == path.stat().st_size


@pytest.mark.parametrize("content", [b"", b"hello world, not a model", b"PK\x03\x04" + bytes(64)])
def test_non_tflite_files_are_refused_by_name(tmp_path, content):
    path = tmp_path / "model.tflite"
    path.write_bytes(content)
    with pytest.raises(UserError, match=r"model\.tflite is not a \.tflite model"):
        read_tflite(path)


def test_truncated_flatbuffer_is_refused_not_crashed(tiny_tflite, tmp_path):
    data = tiny_tflite("float").read_bytes()
    path = tmp_path / "cut.tflite"
    path.write_bytes(data[:40])  # keeps the TFL3 identifier, loses the tables
    assert is_tflite(path.read_bytes())
    with pytest.raises(UserError, match="is not a .tflite model"):
        read_tflite(path)


def test_missing_file(tmp_path):
    with pytest.raises(UserError, match="no such model file"):
        read_tflite(tmp_path / "absent.tflite")
