"""bench targets: mcu (TFLite Micro rows, parity, board fit), coral (Edge TPU rules on crafted models, compiler
report parsing, missing tools), android (benchmark_model report parsing, adb commands through a fake phone) and
gpu (no GPU → a clear message). Recorded tool outputs follow each tool's documented format."""
import numpy as np
import pytest

from lanmsff_edge.bench import android, coral, run_bench
from lanmsff_edge.errors import UserError
from lanmsff_edge.runtimes import edgetpu_rules

# ------------------------------------------------------------------------------------------ crafted models


@pytest.fixture(scope="module")
def crafted(tmp_path_factory):
    """``make(kind) -> Path`` of a small 16×16×1 classifier (8 classes), converted at batch 1:
    ``clean_int8`` (conv-relu, max-pool, conv-relu, global mean, dense, softmax: every op Edge TPU-legal),
    ``clean_float32`` (the same in float), ``gelu_int8`` (a GELU after the first conv: neither the Edge TPU
    nor TFLite Micro has it), ``rank5_int8`` (a MUL on a 5-D tensor with four dimensions > 1)."""
    from lanmsff_edge.bench.convert import to_tflite
    from lanmsff_edge.keras import keras

    folder = tmp_path_factory.mktemp("crafted")
    cache = {}
    calibration = np.random.default_rng(0).random((8, 16, 16, 1), dtype=np.float32)

    def build(kind):
        keras.utils.set_random_seed(3)
        layers = keras.layers
        inputs = keras.Input((16, 16, 1))
        x = layers.Conv2D(8, 3, padding="same", activation="relu")(inputs)
        if kind == "gelu":
            x = layers.Activation("gelu")(x)
        if kind == "rank5":
            x = layers.Reshape((4, 4, 16, 8))(x)
            x = layers.Rescaling(0.5)(x)
            x = layers.Reshape((16, 16, 8))(x)
        x = layers.MaxPooling2D(2)(x)
        x = layers.Conv2D(8, 3, padding="same", activation="relu")(x)
        x = layers.GlobalAveragePooling2D()(x)
        return keras.Model(inputs, layers.Dense(8, activation="softmax")(x))

    def make(kind):
        if kind not in cache:
            family, precision = kind.rsplit("_", 1)
            data = to_tflite(build(family), precision, calibration if precision == "int8" else None)
            cache[kind] = folder / f"{kind}.tflite"
            cache[kind].write_bytes(data)
        return cache[kind]

    return make


def _check(path):
    return edgetpu_rules.check(path.read_bytes(), str(path))


# ----------------------------------------------------------------------------------------------------- mcu

def test_mcu_rows_arena_parity_and_board_estimates(int8_lanmsff, crafted):
    from lanmsff_edge import boards

    report = run_bench([int8_lanmsff.path, crafted("gelu_int8")], device="mcu", runs=1, warmup=0)
    lanmsff, gelu = report.results
    assert lanmsff.error is None, lanmsff.error
    assert lanmsff.extra["tflm_unsupported_ops"] == []
    assert lanmsff.extra["flash_bytes"] == int8_lanmsff.path.stat().st_size
    assert 16 * 1024 < lanmsff.extra["arena_bytes"] < 4 * 1024 * 1024 and lanmsff.extra["arena_bytes"] % 16 == 0
    parity = lanmsff.extra["parity"]
    assert parity["images"] == 8 and parity["top1_agreement"] == 1.0
    assert parity["max_abs_diff"] <= 1 and parity["unit"] == "quantization steps"
    assert "HOST time" in lanmsff.runtime and lanmsff.latency.runs == 1
    assert lanmsff.speedup_vs_float is None  # host reference kernels: no speed-up against anything
    assert gelu.error == "TFLite Micro has no kernel for: GELU" and gelu.latency is None
    table = report.tables["boards"]
    assert [entry["model"] for entry in table] == [lanmsff.model] * len(boards.BOARDS)
    for entry, board in zip(table, boards.BOARDS):
        expected = lanmsff.macs / (board.macs_per_cycle * board.clock_mhz * 1e3)
        assert entry["estimated_latency_ms"] == pytest.approx(expected)
        fit = boards.fits(lanmsff.extra["flash_bytes"], lanmsff.extra["arena_bytes"], board)
        assert entry["verdict"] == fit.verdict
    assert any("ESTIMATE" in note for note in report.notes) and any("HOST" in note for note in report.notes)
    document = report.to_dict()
    assert document["results"][0]["arena_bytes"] == lanmsff.extra["arena_bytes"] and len(document["boards"]) == 7


# --------------------------------------------------------------------------------------------------- coral

def test_clean_int8_model_maps_fully(crafted):
    check = _check(crafted("clean_int8"))
    assert check["problems"] == [] and check["cpu_ops"] == [] and check["first_unsupported"] is None
    assert check["ops_on_tpu"] == check["ops_total"] > 4 and check["fraction_on_tpu"] == 1.0
    assert check["macs_fraction_on_tpu"] == 1.0
    assert edgetpu_rules.summary(check) == "Edge TPU: every op maps (published rules)"


def test_float_model_is_flagged_whole(crafted):
    check = _check(crafted("clean_float32"))
    assert check["ops_on_tpu"] == 0 and len(check["cpu_ops"]) == check["ops_total"]
    assert "not fully 8-bit quantized" in check["problems"][0]


def test_unsupported_op_splits_the_graph(crafted):
    check = _check(crafted("gelu_int8"))
    first = check["first_unsupported"]
    assert first["op"] == "GELU" and "not in the Edge TPU's supported operations" in first["reason"]
    assert check["ops_on_tpu"] == first["index"] >= 1  # everything before the split maps
    after = [c for c in check["cpu_ops"] if c["index"] > first["index"]]
    assert after and all(c["reason"].startswith("after the graph split at op") for c in after)
    assert check["ops_on_tpu"] + len(check["cpu_ops"]) == check["ops_total"]
    assert "GELU" in edgetpu_rules.summary(check)


def test_tensor_with_four_large_dimensions_is_flagged(crafted):
    check = _check(crafted("rank5_int8"))
    reasons = [c["reason"] for c in check["cpu_ops"]]
    assert any("more than 3 dimensions of size > 1" in reason for reason in reasons), reasons


def test_int8_lanmsff_lists_what_does_not_map(int8_lanmsff):
    from lanmsff_edge.tflite_graph import read_tflite

    check = _check(int8_lanmsff.path)
    graph = read_tflite(int8_lanmsff.path)
    assert check["problems"] == [] and check["ops_total"] == len(graph.ops)
    own = [c for c in check["cpu_ops"] if not c["reason"].startswith("after the graph split")]
    # the exported block A fuses its ReLU into MAX_POOL_2D, which the Edge TPU does not allow
    assert check["first_unsupported"]["op"] == "MAX_POOL_2D"
    assert "fused activation" in check["first_unsupported"]["reason"]
    assert {c["op"] for c in own} <= {"MAX_POOL_2D", "MEAN"}  # MEAN: width 0.25 gives z-dimensions of 18
    assert check["ops_on_tpu"] == check["first_unsupported"]["index"]
    assert 0 < check["macs_fraction_on_tpu"] < 1


@pytest.mark.slow
def test_lanmsff_as_the_bench_converts_it_maps_fully():
    """The bench's int8 conversion (``quantize.convert_keras``) moves each block's ReLU before its max-pool, so no
    MAX_POOL_2D carries a fused activation; at width 1/6 every block is 12 channels wide (MEAN's z-dimension a
    multiple of 4), and every op maps by the published rules."""
    from lanmsff_edge.bench.convert import to_tflite
    from lanmsff_edge.data.common import to_model_input
    from lanmsff_edge.data.synthetic import generate
    from lanmsff_edge.keras import keras
    from lanmsff_edge.model import build_model

    keras.utils.set_random_seed(5)
    data = to_tflite(build_model(8, width=1 / 6), "int8", to_model_input(generate("train", size=8, seed=2).images))
    check = edgetpu_rules.check(data)
    assert check["cpu_ops"] == [] and check["ops_on_tpu"] == check["ops_total"] > 60


PARTIAL_REPORT = """Edge TPU Compiler version 16.0.384591198
Started a compilation timeout timer of 180 seconds.

Model compiled successfully in 412 ms.

Input model: /tmp/c/lanmsff_int8.tflite
Input size: 427.34KiB
Output model: /tmp/c/lanmsff_int8_edgetpu.tflite
Output size: 512.80KiB
On-chip memory used for caching model parameters: 3.25KiB
On-chip memory remaining for caching model parameters: 7.86MiB
Off-chip memory used for streaming uncached model parameters: 0.00B
Number of Edge TPU subgraphs: 1
Total number of operations: 98
Operation log: /tmp/c/lanmsff_int8_edgetpu.log

Model successfully compiled but not all operations are supported by the Edge TPU. A percentage of the model will \
instead run on the CPU, which is slower. If possible, consider updating your model to use only operations supported \
by the Edge TPU. For details, visit g.co/coral/model-reqs.
Number of operations that will run on Edge TPU: 4
Number of operations that will run on CPU: 94

Operator                       Count      Status

MAX_POOL_2D                    4          Operation is otherwise supported, but not mapped due to some \
unspecified limitation
CONV_2D                        3          Mapped to Edge TPU
CONV_2D                        25         More than one subgraph is not supported
DEPTHWISE_CONV_2D              1          Mapped to Edge TPU
Compilation child process completed within timeout period.
Compilation succeeded!
"""

FULL_OUTPUT = """Edge TPU Compiler version 16.0.384591198
Started a compilation timeout timer of 180 seconds.

Model compiled successfully in 95 ms.

Input model: clean_int8.tflite
Input size: 6.02KiB
Output model: clean_int8_edgetpu.tflite
Output size: 64.28KiB
On-chip memory used for caching model parameters: 3.00KiB
On-chip memory remaining for caching model parameters: 8.09MiB
Off-chip memory used for streaming uncached model parameters: 0.00B
Number of Edge TPU subgraphs: 1
Total number of operations: 6
Operation log: clean_int8_edgetpu.log
See the operation log file for individual operation details.
Compilation child process completed within timeout period.
Compilation succeeded!
"""

FULL_LOG = """Edge TPU Compiler version 16.0.384591198
Input: clean_int8.tflite
Output: clean_int8_edgetpu.tflite

Operator                       Count      Status

CONV_2D                        2          Mapped to Edge TPU
MAX_POOL_2D                    1          Mapped to Edge TPU
MEAN                           1          Mapped to Edge TPU
FULLY_CONNECTED                1          Mapped to Edge TPU
SOFTMAX                        1          Mapped to Edge TPU
"""


def test_compiler_report_with_cpu_fallback():
    report = coral.parse_compiler_report(PARTIAL_REPORT)
    assert report["version"] == "16.0.384591198"
    assert (report["ops_on_tpu"], report["ops_on_cpu"], report["ops_total"]) == (4, 94, 98)
    assert report["fraction_on_tpu"] == pytest.approx(4 / 98)
    assert report["subgraphs"] == 1 and report["off_chip_memory_bytes"] == 0
    assert report["on_chip_memory_bytes"] == round(3.25 * 1024)
    assert report["on_chip_remaining_bytes"] == round(7.86 * 1024 ** 2)
    assert report["operators"][0] == {"op": "MAX_POOL_2D", "count": 4, "status": "Operation is otherwise supported, "
                                      "but not mapped due to some unspecified limitation"}
    assert [o["count"] for o in report["operators"]] == [4, 3, 25, 1]


def test_compiler_report_fully_mapped_reads_the_log():
    report = coral.parse_compiler_report(FULL_OUTPUT, FULL_LOG)
    assert (report["ops_on_tpu"], report["ops_on_cpu"], report["ops_total"]) == (6, 0, 6)
    assert report["fraction_on_tpu"] == 1.0 and len(report["operators"]) == 5


def test_coral_mapping_only_with_a_compiler_and_without_the_runtime(crafted, monkeypatch):
    calls = []

    def fake_compiler(args, timeout=None):
        calls.append(args)
        folder, source = args[3], args[4]
        stem = source.rsplit("/", 1)[-1][:-len(".tflite")]
        with open(f"{folder}/{stem}_edgetpu.log", "w") as log:
            log.write(FULL_LOG)
        with open(f"{folder}/{stem}_edgetpu.tflite", "wb") as compiled:
            compiled.write(b"compiled")
        return 0, FULL_OUTPUT

    monkeypatch.setattr(coral.shutil, "which", lambda name: "/opt/edgetpu_compiler" if name == coral.COMPILER else None)
    monkeypatch.setattr(coral, "load_edgetpu_delegate", lambda: (None, "libedgetpu.so.1 did not load (test)"))
    report = run_bench([crafted("clean_int8")], device="coral", command_runner=fake_compiler, mapping_only=True)
    (row,) = report.results
    assert calls and calls[0][:4] == ["edgetpu_compiler", "-s", "-o", calls[0][3]]
    assert calls[0][4].endswith("clean_int8.tflite")
    assert row.extra["edgetpu"]["compiler"]["ops_on_tpu"] == 6 and row.extra["edgetpu"]["check"]["fraction_on_tpu"] == 1
    assert row.runtime == "edgetpu_compiler 16.0.384591198" and row.latency is None and row.error is None
    assert any("--mapping-only: the op mapping, no Edge TPU timing" in note for note in report.notes)
    assert not any("not on PATH" in note for note in report.notes)


def test_coral_without_an_edge_tpu_is_an_error_unless_only_the_mapping_is_asked_for(crafted, monkeypatch, run_cli):
    monkeypatch.setattr(coral.shutil, "which", lambda name: None)
    monkeypatch.setattr(coral, "load_edgetpu_delegate", lambda: (None, "libedgetpu.so.1 did not load (test)"))
    with pytest.raises(UserError, match="no Edge TPU: libedgetpu.so.1 did not load .test.; `--mapping-only`"):
        run_bench([crafted("gelu_int8")], device="coral")
    result = run_cli("bench", "--model", crafted("gelu_int8"), "--device", "coral")
    assert result.exit_code == 1 and "no Edge TPU" in result.output and "Traceback" not in result.output
    report = run_bench([crafted("gelu_int8")], device="coral", mapping_only=True)
    (row,) = report.results
    assert row.error is None and row.extra["edgetpu"]["compiler"] is None and row.latency is None
    assert any("edgetpu_compiler not on PATH" in note for note in report.notes)
    assert any("GELU" in note for note in row.notes)
    assert report.settings["mapping_only"] is True
    with pytest.raises(UserError, match="--mapping-only applies to --device coral"):
        run_bench([crafted("gelu_int8")], device="cpu", mapping_only=True)


# ------------------------------------------------------------------------------------------------- android

CPU_OUTPUT = """STARTING!
Log parameter values verbosely: [0]
Min num runs: [50]
Num threads: [4]
Min warmup runs: [5]
Graph: [/data/local/tmp/lanmsff_bench/0_lanmsff_int8.tflite]
#threads used for CPU inference: [4]
Loaded model /data/local/tmp/lanmsff_bench/0_lanmsff_int8.tflite
INFO: Initialized TensorFlow Lite runtime.
INFO: Created TensorFlow Lite XNNPACK delegate for CPU.
The input model file size (MB): 0.437596
Initialized session in 38.114ms.
Running benchmark for at least 5 iterations and at least 0 seconds but terminate if exceeding 150 seconds.
count=5 first=9217 curr=4411 min=4398 max=9217 avg=5386.2 std=1912

Running benchmark for at least 50 iterations and at least 0 seconds but terminate if exceeding 150 seconds.
count=50 first=4420 curr=4388 min=4301 max=5102 avg=4452.36 std=131

Inference timings in us: Init: 38114, First inference: 9217, Warmup (avg): 5386.2, Inference (avg): 4452.36
Note: as the benchmark tool itself affects memory footprint, the following is only APPROXIMATE to the actual \
memory footprint of the model at runtime. Take the information at your discretion.
Memory footprint delta from the start of the tool (MB): init=4.17188 overall=6.89453
"""

GPU_OUTPUT = """INFO: STARTING!
INFO: Use gpu: [1]
INFO: Loaded model /data/local/tmp/lanmsff_bench/0_lanmsff_int8.tflite
INFO: Created TensorFlow Lite delegate for GPU.
INFO: GPU delegate created.
INFO: Replacing 95 out of 98 node(s) with delegate (TfLiteGpuDelegateV2) node, yielding 2 partitions for the \
whole graph.
INFO: Initialized OpenCL-based API.
INFO: Replacing 3 out of 3 node(s) with delegate (TfLiteXNNPackDelegate) node, yielding 1 partitions for the \
whole graph.
INFO: Initialized session in 612.4ms.
INFO: Running benchmark for at least 5 iterations and at least 0 seconds but terminate if exceeding 150 seconds.
INFO: count=5 first=14502 curr=3011 min=2987 max=14502 avg=5312 std=4595 p5=2987 median=3020 p95=14502

INFO: Running benchmark for at least 50 iterations and at least 0 seconds but terminate if exceeding 150 seconds.
INFO: count=50 first=3050 curr=2998 min=2951 max=3320 avg=3.0347e+03 std=61 p5=2960 median=3021 p95=3190

INFO: Inference timings in us: Init: 612400, First inference: 14502, Warmup (avg): 5312, Inference (avg): 3034.7
INFO: Memory footprint delta from the start of the tool (MB): init=58.2031 overall=61.7656
INFO: Overall peak memory footprint (MB) via periodic monitoring: 71.4883
"""

NNAPI_FAILURE = """INFO: STARTING!
INFO: Use NNAPI: [1]
INFO: Loaded model /data/local/tmp/lanmsff_bench/0_lanmsff_int8.tflite
INFO: Created TensorFlow Lite delegate for NNAPI.
ERROR: NN API returned error ANEURALNETWORKS_OP_FAILED at line 5137 while completing NNAPI compilation.
ERROR: Node number 98 (TfLiteNnapiDelegate) failed to prepare.
Failed to apply NNAPI delegate.
Benchmarking failed.
"""


def test_benchmark_model_cpu_report():
    parsed = android.parse_benchmark_output(CPU_OUTPUT)
    assert parsed["init_ms"] == pytest.approx(38.114) and parsed["session_init_ms"] == pytest.approx(38.114)
    assert parsed["first_inference_ms"] == pytest.approx(9.217) and parsed["warmup_avg_ms"] == pytest.approx(5.3862)
    assert parsed["inference_avg_ms"] == pytest.approx(4.45236)
    assert parsed["runs"] == 50 and parsed["avg_ms"] == pytest.approx(4.45236)  # the measured run, not the warm-up
    assert (parsed["min_ms"], parsed["max_ms"], parsed["std_ms"]) == pytest.approx((4.301, 5.102, 0.131))
    assert parsed["median_ms"] is None
    assert (parsed["init_memory_mb"], parsed["peak_memory_mb"]) == pytest.approx((4.17188, 6.89453))
    assert parsed["errors"] == [] and parsed["delegated_nodes"] is None
    latency = android.latency_from(parsed)
    assert latency.mean == pytest.approx(4.45236) and latency.p50 is None and latency.typical == latency.mean


def test_benchmark_model_gpu_report_with_percentiles_and_partial_delegation():
    parsed = android.parse_benchmark_output(GPU_OUTPUT)
    assert parsed["runs"] == 50 and parsed["avg_ms"] == pytest.approx(3.0347) and parsed["median_ms"] == 3.021
    assert parsed["init_ms"] == pytest.approx(612.4)
    assert parsed["peak_memory_mb"] == pytest.approx(61.7656) and parsed["peak_memory_monitored_mb"] == 71.4883
    assert (parsed["delegated_nodes"], parsed["total_nodes"]) == (95, 98) and parsed["fully_delegated"] is False
    assert parsed["delegate"] == "TfLiteGpuDelegateV2" and len(parsed["delegations"]) == 2  # XNNPACK took the rest


def test_benchmark_model_failure_is_parsed():
    parsed = android.parse_benchmark_output(NNAPI_FAILURE)
    assert parsed["avg_ms"] is None and android.latency_from(parsed) is None
    assert parsed["errors"][0].startswith("ERROR: NN API returned error")
    assert parsed["errors"][-1] == "Benchmarking failed."


class FakePhone:
    """Answers adb like one attached phone; records every command."""

    def __init__(self, devices="List of devices attached\nR58M1234ABC\tdevice\n\n"):
        self.devices = devices
        self.commands = []

    def __call__(self, args, timeout=None):
        self.commands.append([str(a) for a in args])
        if args[1:] == ["devices"]:
            return 0, self.devices
        if "getprop" in args:
            return 0, {"ro.product.model": "Pixel 7\n", "ro.product.cpu.abi": "arm64-v8a\n",
                       "ro.build.version.release": "14\n"}.get(args[-1], "\n")
        if any(str(a) == android.REMOTE_BINARY for a in args[4:5]):
            if "--use_nnapi=true" in args:
                return 1, NNAPI_FAILURE
            return 0, GPU_OUTPUT if "--use_gpu=true" in args else CPU_OUTPUT
        return 0, ""


@pytest.fixture
def binary(tmp_path):
    path = tmp_path / "benchmark_model"
    path.write_bytes(b"\x7fELF fake")
    return path


def test_android_commands_and_rows(crafted, binary):
    phone = FakePhone()
    model = crafted("clean_int8")
    report = run_bench([model], device="android", threads=4, runs=50, warmup=5, benchmark_binary=binary,
                       command_runner=phone)
    serial = ["adb", "-s", "R58M1234ABC"]
    commands = phone.commands
    assert commands[0] == ["adb", "devices"]
    assert serial + ["shell", "mkdir", "-p", android.REMOTE_DIR] in commands
    assert serial + ["push", str(binary), android.REMOTE_BINARY] in commands
    assert serial + ["shell", "chmod", "755", android.REMOTE_BINARY] in commands
    remote = f"{android.REMOTE_DIR}/0_clean_int8.tflite"
    assert any(c[:4] == serial + ["push"] and c[-1] == remote for c in commands)
    runs = [c[4:] for c in commands if c[4:5] == [android.REMOTE_BINARY]]
    base = [android.REMOTE_BINARY, f"--graph={remote}", "--num_threads=4", "--num_runs=50", "--warmup_runs=5",
            "--min_secs=0", "--warmup_min_secs=0"]
    assert runs == [base, base + ["--use_gpu=true"], base + ["--use_nnapi=true"]]
    assert commands[-1] == serial + ["shell", "rm", "-rf", android.REMOTE_DIR]
    cpu_row, gpu_row, nnapi_row = report.results
    assert cpu_row.latency.mean == pytest.approx(4.45236) and cpu_row.extra["android"]["peak_memory_mb"] == 6.89453
    assert "Pixel 7" in cpu_row.runtime and "4 threads" in cpu_row.runtime
    assert gpu_row.latency.p50 == pytest.approx(3.021) and any("95 of 98" in n for n in gpu_row.notes)
    assert nnapi_row.latency is None and "NN API returned error" in nnapi_row.error
    assert report.tables["android"]["model"] == "Pixel 7"


def test_android_float32_tflite_on_the_phone_cpu_is_the_reference(crafted, binary):
    phone = FakePhone()
    report = run_bench([crafted("clean_float32"), crafted("clean_int8")], device="android",
                       benchmark_binary=binary, command_runner=phone, android_delegates=("cpu",))
    float_row, int8_row = report.results
    assert float_row.is_reference and int8_row.speedup_vs_float == pytest.approx(1.0)  # same recorded output


@pytest.mark.parametrize("devices, serial, message", [
    ("List of devices attached\n\n", None, "no Android device ready for adb: connect one"),
    ("List of devices attached\nR58M\tunauthorized\n", None, "R58M (unauthorized)"),
    ("List of devices attached\nA1\tdevice\nB2\tdevice\n", None, "several Android devices attached (A1, B2)"),
    ("List of devices attached\nA1\tdevice\n", "Z9", "--serial Z9: not attached"),
])
def test_android_device_problems(crafted, binary, devices, serial, message):
    with pytest.raises(UserError, match=message.replace("(", r"\(").replace(")", r"\)")):
        run_bench([crafted("clean_int8")], device="android", benchmark_binary=binary, android_serial=serial,
                  command_runner=FakePhone(devices))


def test_android_missing_adb_or_binary(run_cli, crafted, tmp_path, monkeypatch):
    monkeypatch.setattr(android.shutil, "which", lambda name: None)
    result = run_cli("bench", "--model", crafted("clean_int8"), "--device", "android", "--benchmark-binary",
                     tmp_path / "nothing")
    assert result.exit_code == 1 and "adb not found on PATH" in result.output
    monkeypatch.setattr(android.shutil, "which", lambda name: "/usr/bin/adb")
    result = run_cli("bench", "--model", crafted("clean_int8"), "--device", "android")
    assert result.exit_code == 1 and "needs --benchmark-binary" in result.output
    result = run_cli("bench", "--model", crafted("clean_int8"), "--device", "android", "--benchmark-binary",
                     tmp_path / "nothing")
    assert result.exit_code == 1 and "no such file" in result.output


# ----------------------------------------------------------------------------------------------------- gpu

def test_gpu_absent_is_a_clear_error(run_cli, crafted):
    from lanmsff_edge.bench.gpu import visible_gpus

    if visible_gpus():
        pytest.skip("a GPU is visible here")
    result = run_cli("bench", "--model", crafted("clean_int8"), "--device", "gpu")
    assert result.exit_code == 1 and "no GPU visible to TensorFlow" in result.output


def test_gpu_rows_on_a_stand_in_device(crafted, tmp_path, monkeypatch):
    """The gpu code path with TensorFlow's CPU standing in for the GPU: Keras rows on that device with a
    (here unavailable) peak-memory field, TFLite rows on LiteRT, the Keras row as the reference."""
    from lanmsff_edge.bench import gpu
    from lanmsff_edge.keras import keras

    monkeypatch.setattr(gpu, "require_gpu", lambda: "/CPU:0")
    monkeypatch.setattr(gpu, "gpu_name", lambda: "stand-in")
    inputs = keras.Input((16, 16, 1))
    x = keras.layers.GlobalAveragePooling2D()(keras.layers.Conv2D(4, 3)(inputs))
    path = tmp_path / "small.keras"
    keras.Model(inputs, keras.layers.Dense(8, activation="softmax")(x)).save(path)
    report = run_bench([path, crafted("clean_int8")], device="gpu", runs=2, warmup=0, convert=False)
    keras_row, tflite_row = report.results
    assert keras_row.is_reference and "GPU stand-in" in keras_row.runtime and keras_row.latency.runs == 2
    assert "gpu_peak_memory_bytes" in keras_row.extra and "XNNPACK" in tflite_row.runtime
    assert report.tables["gpu"] == {"name": "stand-in"}
