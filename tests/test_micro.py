"""runtimes.micro: the op table matches the TFLM kernels compiled into the wheel; arena search is minimal; the
host interpreter runs int8 models and agrees with LiteRT; TFLM's C++ chatter stays off the terminal."""
import re
from pathlib import Path

import numpy as np
import pytest

from lanmsff_edge.errors import UserError
from lanmsff_edge.runtimes import micro
from lanmsff_edge.tflite_graph import read_tflite

# Kernels the wheel registers that are not builtin ops: TFLM's own custom ops, signal-library ops, helpers.
NOT_BUILTIN = {"BASIC_CLASSIFIER", "CIRCULAR_BUFFER", "DECODE", "DETECTION_POSTPROCESS", "ETHOSU", "L2NORM_REF",
               "DELAY", "ENERGY", "FFT_AUTO_SCALE", "FILTER_BANK", "FILTER_BANK_LOG", "FILTER_BANK_SQUARE_ROOT",
               "FILTER_BANK_SPECTRAL_SUBTRACTION", "FRAMER", "IRFFT", "OVERLAP_ADD", "PCAN", "RFFT", "STACKER",
               "WINDOW"}


def _compiled_kernels():
    from tflite_micro.python.tflite_micro import runtime

    binary = (Path(runtime.__file__).parent / "_runtime.so").read_bytes()
    names = {match.decode() for match in re.findall(rb"\d+Register_([A-Z0-9_]+?)Ev", binary)}
    return {re.sub(r"_(INT8|INT16|INT32|FLOAT|REF)$", "", name) if name.startswith(("RFFT", "IRFFT", "OVERLAP"))
            else name for name in names}


def test_builtin_table_is_exactly_the_kernels_in_the_tflm_wheel():
    from ai_edge_litert import schema_py_generated as schema

    compiled = _compiled_kernels()
    table = set(micro.TFLM_BUILTIN_OPS)
    assert table <= compiled, f"no kernel compiled for {sorted(table - compiled)}"
    assert compiled - table <= NOT_BUILTIN, f"kernels missing from the table: {sorted(compiled - table - NOT_BUILTIN)}"
    assert table <= set(vars(schema.BuiltinOperator))  # every key is a real builtin op name
    assert all(re.fullmatch(r"Add[A-Z][A-Za-z0-9]*", method) for method in micro.TFLM_BUILTIN_OPS.values())
    assert len(set(micro.TFLM_BUILTIN_OPS.values())) == len(micro.TFLM_BUILTIN_OPS)
    assert micro.TFLM_BUILTIN_OPS["CONV_2D"] == "AddConv2D"
    assert micro.TFLM_BUILTIN_OPS["DEPTHWISE_CONV_2D"] == "AddDepthwiseConv2D"
    assert micro.TFLM_BUILTIN_OPS["TRANSPOSE_CONV"] == "AddTransposeConv"
    assert micro.TFLM_BUILTIN_OPS["UNIDIRECTIONAL_SEQUENCE_LSTM"] == "AddUnidirectionalSequenceLSTM"


def test_op_tflm_lacks_is_named_and_the_interpreter_agrees(tiny_tflite):
    path = tiny_tflite("gelu_int8")
    assert micro.unsupported_ops(path) == ["GELU"]
    with pytest.raises(UserError, match="GELU"):
        micro.check_supported(path)
    with pytest.raises(micro.MicroAllocationError, match="GELU"):  # the real TFLM says the same
        micro.load(path, 1 << 20)
    with pytest.raises(UserError, match="GELU"):
        micro.find_arena_size(path.read_bytes())


def test_arena_search_over_a_fake_planner_is_exact_and_frugal(tiny_tflite, monkeypatch):
    probes = []
    monkeypatch.setattr(micro, "allocates", lambda data, size: probes.append(size) or size >= 300_008)
    assert micro.find_arena_size(tiny_tflite("float").read_bytes()) == 300_016  # smallest multiple of 16 ≥ it
    assert probes[:4] == [64 * 1024, micro.MAX_ARENA, 128 * 1024, 256 * 1024] and len(probes) < 30


def test_a_kernel_that_fails_to_prepare_is_named_not_blamed_on_memory(tiny_tflite, monkeypatch):
    probes = []
    monkeypatch.setattr(micro, "allocates", lambda data, size: probes.append(size) or False)

    def load(data, arena_size):
        raise micro.MicroAllocationError("AllocateTensors failed: Node CONV_2D (number 0) failed to prepare")

    monkeypatch.setattr(micro, "load", load)
    with pytest.raises(UserError, match="cannot prepare this model .* CONV_2D .* failed to prepare"):
        micro.find_arena_size(tiny_tflite("float").read_bytes())
    assert probes == [64 * 1024, micro.MAX_ARENA]  # no doubling towards 1 GiB


def test_custom_flex_op_is_unsupported(tiny_tflite):
    assert micro.unsupported_ops(tiny_tflite("flex")) == ["CUSTOM:FlexCumprod"]


@pytest.mark.slow
def test_arena_search_finds_the_smallest_16_byte_size(int8_lanmsff):
    data = int8_lanmsff.path.read_bytes()
    arena = micro.find_arena_size(data)
    assert arena % 16 == 0
    assert micro.allocates(data, arena)
    assert not micro.allocates(data, arena - 16)
    assert micro.allocates(data, arena + 4096)  # monotonic above the minimum
    assert micro.find_arena_size(data, start=1024) == arena  # independent of the starting guess


@pytest.mark.slow
def test_arena_search_keeps_tflm_messages_off_the_terminal(int8_lanmsff, capfd):
    micro.find_arena_size(int8_lanmsff.path.read_bytes())
    captured = capfd.readouterr()
    assert "Failed" not in captured.err and "Failed" not in captured.out


@pytest.mark.slow
def test_resolver_methods_cover_each_op_once_in_order_of_use(int8_lanmsff):
    graph = read_tflite(int8_lanmsff.path)
    methods = micro.resolver_methods(graph)
    assert methods == [micro.TFLM_BUILTIN_OPS[name] for name in graph.op_names]


@pytest.mark.slow
def test_tflm_runs_int8_and_agrees_with_litert(int8_lanmsff):
    from ai_edge_litert.interpreter import Interpreter

    graph = read_tflite(int8_lanmsff.path)
    x = graph.inputs[0]
    faces = int8_lanmsff.calibration[:4]
    litert = Interpreter(model_path=str(int8_lanmsff.path))
    litert.allocate_tensors()
    interpreter = micro.load(int8_lanmsff.path, micro.find_arena_size(int8_lanmsff.path) + 1024)
    for face in faces:
        q = np.clip(np.floor(face / x.scale + 0.5) + x.zero_point, -128, 127).astype(np.int8)[None]
        tflm = micro.invoke(interpreter, q)[0]
        litert.set_tensor(x.index, q)
        litert.invoke()
        reference = litert.get_tensor(graph.outputs[0].index)
        assert tflm.dtype == np.int8 and tflm.shape == (1, 8)
        # Both run integer kernels on the same quantized graph; their rounding paths differ by a step or two.
        assert np.max(np.abs(tflm.astype(int) - reference.astype(int))) <= 2
    with pytest.raises(UserError, match="expects int8"):
        micro.invoke(interpreter, faces[:1].astype(np.float32))


def test_run_feeds_every_input_and_returns_every_output(tiny_tflite):
    """The float tiny model has two inputs and two outputs (softmax, batch matmul); TFLM's float reference kernels
    must match LiteRT to float precision."""
    from ai_edge_litert.interpreter import Interpreter

    path = tiny_tflite("float")
    graph = read_tflite(path)
    rng = np.random.default_rng(0)
    feeds = [rng.standard_normal(t.shape).astype(np.float32) for t in graph.inputs]
    outputs = micro.run(path, feeds)
    assert len(outputs) == len(graph.outputs) == 2
    litert = Interpreter(model_path=str(path))
    litert.allocate_tensors()
    for tensor, value in zip(graph.inputs, feeds):
        litert.set_tensor(tensor.index, value)
    litert.invoke()
    for tensor, value in zip(graph.outputs, outputs):
        np.testing.assert_allclose(value, litert.get_tensor(tensor.index), rtol=1e-5, atol=1e-6)
