"""bench core: timing statistics, the float reference and its ratios, the JSON schema, table / Markdown / plot
writers, input preparation for any NHWC classifier, the cpu device end to end, and bad input on the CLI."""
import json
import re
import struct

import numpy as np
import pytest

from lanmsff_edge.bench import report as report_module
from lanmsff_edge.bench.models import ImageSpec, prepare_images
from lanmsff_edge.bench.record import BenchReport, BenchResult, attach_ratios, choose_reference
from lanmsff_edge.bench.timing import Latency, time_calls
from lanmsff_edge.data.common import to_model_input
from lanmsff_edge.errors import UserError

LATENCY_KEYS = {"mean", "p50", "p90", "p99", "std", "min", "max", "runs"}
RESULT_KEYS = {"model", "path", "format", "precision", "runtime", "params", "macs", "size_bytes", "latency_ms",
               "images_per_s", "accuracy", "information_density", "speedup_vs_float", "size_ratio_vs_float",
               "vs_float", "is_reference", "error", "notes"}


# ------------------------------------------------------------------------------------------- pure pieces

def test_latency_statistics_from_samples():
    latency = Latency.from_samples([4.0, 1.0, 3.0, 2.0, 100.0])
    assert latency.mean == pytest.approx(22.0)
    assert latency.p50 == pytest.approx(3.0)
    assert latency.min == 1.0 and latency.max == 100.0 and latency.runs == 5
    assert latency.std == pytest.approx(np.std([4, 1, 3, 2, 100]))
    assert latency.p90 == pytest.approx(np.percentile([1, 2, 3, 4, 100], 90))
    assert latency.p50 <= latency.p90 <= latency.p99 <= latency.max
    assert latency.images_per_s == pytest.approx(1000.0 / 22.0)
    assert set(latency.to_dict()) == LATENCY_KEYS


def test_time_calls_warms_up_then_times_each_run():
    calls = []
    latency = time_calls(lambda: calls.append(1), runs=7, warmup=3)
    assert len(calls) == 10 and latency.runs == 7
    with pytest.raises(ValueError):
        time_calls(lambda: None, runs=0, warmup=0)


def _row(name, fmt, precision, mean, size, error=None):
    latency = None if mean is None else Latency(mean, mean, mean, mean, 0.0, mean, mean, 5)
    return BenchResult(model=name, path=name, format=fmt, precision=precision, runtime="test", size_bytes=size,
                       latency=latency, error=error)


def test_float_keras_is_the_reference_and_ratios_divide_by_it():
    rows = [_row("m.tflite", "tflite", "float32", 8.0, 1000), _row("m.keras", "keras", "float32", 20.0, 4000),
            _row("m_int8.tflite", "tflite", "int8", 2.5, 250), _row("bad.tflite", "tflite", "int8", None, 100, "x")]
    reference = attach_ratios(rows)
    assert reference is rows[1] and rows[1].is_reference and not rows[0].is_reference
    assert rows[1].speedup_vs_float == 1.0 and rows[1].size_ratio_vs_float == 1.0
    assert rows[2].speedup_vs_float == pytest.approx(20.0 / 2.5)
    assert rows[2].size_ratio_vs_float == pytest.approx(4000 / 250)
    assert rows[0].speedup_vs_float == pytest.approx(20.0 / 8.0)
    assert rows[3].speedup_vs_float is None and rows[3].size_ratio_vs_float is None


def test_float32_tflite_is_the_reference_without_a_timed_keras_row():
    rows = [_row("m.keras", "keras", "float32", None, 4000), _row("m_int8.tflite", "tflite", "int8", 2.0, 250),
            _row("m.tflite", "tflite", "float32", 6.0, 1000)]
    assert choose_reference(rows) is rows[2]
    attach_ratios(rows)
    assert rows[1].speedup_vs_float == pytest.approx(3.0)
    assert rows[0].speedup_vs_float is None  # untimed Keras row: no speed, but a size ratio
    assert rows[0].size_ratio_vs_float == pytest.approx(0.25)
    only_int8 = [_row("a.tflite", "tflite", "int8", 2.0, 250)]
    assert attach_ratios(only_int8) is None and only_int8[0].speedup_vs_float is None


def test_host_kernel_times_are_not_compared():
    """TFLite Micro's host times (compare_speed False) get no speed-up; with no other float row the float32 one
    is still the size reference."""
    rows = [_row("f.tflite", "tflite", "float32", 400.0, 1000), _row("i.tflite", "tflite", "int8", 450.0, 250)]
    for row in rows:
        row.compare_speed = False
    assert attach_ratios(rows) is rows[0]
    assert [r.speedup_vs_float for r in rows] == [None, None]
    assert rows[1].size_ratio_vs_float == pytest.approx(4.0)
    keras_first = [_row("m.keras", "keras", "float32", 20.0, 4000)] + rows
    attach_ratios(keras_first)
    assert keras_first[0].speedup_vs_float == 1.0 and keras_first[2].speedup_vs_float is None


def test_target_fields_cannot_overwrite_common_fields():
    row = _row("m.tflite", "tflite", "int8", 1.0, 10)
    row.extra["arena_bytes"] = 1234
    assert row.to_dict()["arena_bytes"] == 1234
    row.extra["accuracy"] = 1.0
    with pytest.raises(KeyError):
        row.to_dict()


def test_lanmsff_input_is_exactly_the_data_contract():
    faces = np.random.default_rng(0).integers(0, 256, (3, 64, 64), dtype=np.uint8)
    np.testing.assert_array_equal(prepare_images(faces, ImageSpec(64, 64, 1)), to_model_input(faces))


def test_faces_are_resized_and_mapped_for_another_classifier():
    faces = np.random.default_rng(1).integers(0, 256, (2, 64, 64), dtype=np.uint8)
    x = prepare_images(faces, ImageSpec(32, 48, 3), input_range=(-1.0, 1.0))
    assert x.shape == (2, 32, 48, 3) and x.dtype == np.float32
    np.testing.assert_array_equal(x[..., 0], x[..., 2])  # gray repeated into RGB
    assert x.min() == pytest.approx(-1.0) and x.max() == pytest.approx(1.0)
    assert prepare_images(faces, ImageSpec(96, 96, 1))[..., 0].shape == (2, 96, 96)


# -------------------------------------------------------------------------------------- cpu, end to end

@pytest.fixture(scope="module")
def cpu_report(int8_lanmsff, tmp_path_factory):
    """One bench run: the tiny LANMSFF .keras (→ + float32 + int8 conversions) and the PTQ int8 file, with
    accuracy on 24 synthetic test faces."""
    from lanmsff_edge.bench import run_bench
    from lanmsff_edge.model import save_model

    folder = tmp_path_factory.mktemp("bench")
    keras_path = folder / "tiny.keras"
    save_model(int8_lanmsff.keras_model, keras_path)
    report = run_bench([keras_path, int8_lanmsff.path], device="cpu", threads=1, runs=3, warmup=1,
                       dataset="synthetic", split="test", limit=24)
    return report, keras_path


def test_cpu_rows_formats_and_costs(cpu_report, int8_lanmsff):
    from lanmsff_edge.model import model_summary

    report, _ = cpu_report
    rows = report.results
    assert [(r.format, r.precision) for r in rows] == [("keras", "float32"), ("tflite", "float32"),
                                                       ("tflite", "int8"), ("tflite", "int8")]
    assert [r.model for r in rows] == ["tiny.keras", "tiny_float32.tflite", "tiny_int8.tflite",
                                       int8_lanmsff.path.name]
    assert all(r.error is None for r in rows), [r.error for r in rows]
    summary = model_summary(int8_lanmsff.keras_model)
    assert rows[0].params == summary["params"] and rows[0].macs == summary["macs"]
    assert all(r.macs == summary["macs"] for r in rows[1:])  # counted from each graph: the same convolutions
    assert all(0 < r.params < summary["params"] for r in rows[1:])  # batch norm folded away in TFLite
    assert rows[2].size_bytes < rows[1].size_bytes < rows[0].size_bytes
    assert rows[3].size_bytes == int8_lanmsff.path.stat().st_size
    assert "XNNPACK" in rows[2].runtime and "1 thread" in rows[2].runtime and "TensorFlow" in rows[0].runtime
    assert any("calibrated on 200 class-balanced images of synthetic train" in note for note in rows[2].notes)


def test_json_schema_and_consistency(cpu_report, tmp_path):
    report, _ = cpu_report
    path = tmp_path / "out" / "bench.json"
    report_module.write_json(report, path)
    document = json.loads(path.read_text())
    assert document["device"] == "cpu" and document["schema"] == "lanmsff-edge.bench/1"
    for key in ("cpu", "logical_cores", "threads", "tensorflow", "ai_edge_litert", "tflite_micro", "date"):
        assert key in document["host"], key
    assert document["settings"]["runs"] == 3 and document["settings"]["dataset"] == "synthetic"
    assert document["settings"]["images"] == 24
    results = document["results"]
    assert len(results) == 4
    reference = [r for r in results if r["is_reference"]]
    assert len(reference) == 1 and reference[0]["format"] == "keras"
    assert document["reference"] == f"{reference[0]['model']} [keras]"
    for result in results:
        assert RESULT_KEYS <= set(result), RESULT_KEYS - set(result)
        assert set(result["latency_ms"]) == LATENCY_KEYS and result["latency_ms"]["runs"] == 3
        speedup = reference[0]["latency_ms"]["p50"] / result["latency_ms"]["p50"]
        assert result["speedup_vs_float"] == pytest.approx(speedup, rel=1e-4)
        assert result["size_ratio_vs_float"] == pytest.approx(reference[0]["size_bytes"] / result["size_bytes"],
                                                              rel=1e-4)
        assert result["images_per_s"] == pytest.approx(1000 / result["latency_ms"]["mean"], rel=1e-4)
        assert 0.0 <= result["accuracy"] <= 1.0
        assert result["information_density"] == pytest.approx(100 * result["accuracy"] / (result["params"] / 1e6),
                                                              rel=1e-4)
        versus = result["vs_float"]  # the images a row changed account for its accuracy difference exactly
        if result["is_reference"]:
            assert versus is None
        else:
            assert versus["images"] == 24 and 0 <= versus["p_value"] <= 1
            assert versus["gained"] - versus["lost"] == round(24 * (result["accuracy"] - reference[0]["accuracy"]))
    assert reference[0]["speedup_vs_float"] == 1.0


def test_table_and_markdown_render_every_row(cpu_report, tmp_path):
    report, _ = cpu_report
    assert max(len(line) for line in report_module.format_table(report).splitlines()) <= 120
    table = report_module.format_table(report, wide=True)
    lines = table.splitlines()
    header = next(line for line in lines if line.startswith("model "))
    for column in ("params", "MACs", "size", "p50 ms", "speed-up", "accuracy", "vs float −/+ (p)", "ID", "runtime"):
        assert column in header
    for row in report.results:
        assert any(line.startswith(row.model) for line in lines), row.model
    assert "tiny.keras *" in table and "1.00×" in table and "--device cpu" in lines[0]
    path = tmp_path / "bench.md"
    report_module.write_markdown(report, path)
    markdown = path.read_text()
    table_rows = [line for line in markdown.splitlines() if line.startswith("| ")]
    assert len(table_rows) == 1 + len(report.results)  # header + one per model
    assert table_rows[0].count("|") == table_rows[1].count("|")


def _mcu_report():
    noted = _row("b.tflite", "tflite", "int8", 2.0, 1000)
    noted.notes = ["calibrated on 200 images"]
    noted.extra = {"arena_bytes": 300_000, "parity": {"images": 8, "max_abs_diff": 1.0, "unit": "quantization steps",
                                                      "top1_agreement": 1.0}}
    failed = _row("c.tflite", "tflite", "int8", None, 1000, error="op GELU has no TFLM kernel")
    long = ("RAM: the arena needs 560 KB, the largest SRAM block holds 512 KB; flash: 2 MB is enough but this reason "
            "is long")
    boards = [{"board": name, "core": "M7", "clock_mhz": 480, "ram_bytes": 1 << 20, "flash_bytes": 2 << 20,
               "model": "b.tflite", "verdict": verdict, "estimated_latency_ms": 900.0, "reason": reason}
              for name, verdict, reason in (("A", "no", long), ("B", "no", long), ("C", "fits", ""))]
    return BenchReport(device="mcu", host={}, settings={"runs": 3, "warmup": 1, "threads": 1},
                       results=[_row("a.tflite", "tflite", "int8", 2.0, 1000), noted, failed],
                       tables={"boards": boards}), long


def test_every_footnote_has_its_mark_in_a_row_and_long_reasons_become_notes():
    report, long = _mcu_report()
    for text in (report_module.format_table(report), report_module.to_markdown(report)):
        assert "b.tflite [1]" in text and "c.tflite [2]" in text and "a.tflite [" not in text
        assert "[1] b.tflite: calibrated on 200 images" in text
        assert "[2] c.tflite (test): ERROR op GELU has no TFLM kernel" in text
        assert "[3]" not in text
        assert text.count(long) == 1  # said once below the board table, marked (a) in both rows that share it
        assert f"(a) {long}" in text and "(b)" not in text
    lines = report_module.format_table(report).splitlines()
    board_rows = [line for line in lines if line.startswith(("A ", "B ", "C "))]
    assert [row.rstrip().endswith("(a)") for row in board_rows] == [True, True, False]
    assert max(len(line) for line in lines if long not in line) < 200


def test_parity_has_a_unit_and_a_shared_runtime_is_said_once():
    report, _ = _mcu_report()
    table = report_module.format_table(report)
    assert "parity: TFLite Micro against LiteRT" in table.replace("\n    ", " ") and "100% / 1 step" in table
    assert "runtime (every row): test" in table
    header = next(line for line in table.splitlines() if line.startswith("model "))
    assert "runtime" not in header and "ID" not in header  # a column empty in every row is left out
    assert "p50 ms" in header


def test_mapping_only_does_not_claim_timed_runs():
    report = BenchReport(device="coral", host={}, settings={"runs": 100, "warmup": 10, "mapping_only": True},
                         results=[_row("a.tflite", "tflite", "int8", None, 1000)])
    first = report_module.format_table(report).splitlines()[0]
    assert "op mapping only, nothing timed" in first and "100 runs" not in first and "warm-up" not in first
    report.settings["mapping_only"] = False
    assert "100 runs after 10 warm-up" in report_module.format_table(report).splitlines()[0]


def _is_png(path):
    data = path.read_bytes()
    assert data[:8] == b"\x89PNG\r\n\x1a\n"
    width, height = struct.unpack(">II", data[16:24])
    return width > 100 and height > 100


def test_plot_with_and_without_accuracy(cpu_report, tmp_path):
    from lanmsff_edge.bench.plot import write_plot

    report, _ = cpu_report
    write_plot(report, tmp_path / "accuracy.png")
    assert _is_png(tmp_path / "accuracy.png")
    speed_only = BenchReport(device="cpu", host={}, settings={}, results=[
        _row("a.keras", "keras", "float32", 10.0, 4000), _row("a.tflite", "tflite", "int8", 2.0, 1000)])
    write_plot(speed_only, tmp_path / "speed.png")
    assert _is_png(tmp_path / "speed.png")


def test_another_rgb_classifier_sits_beside_lanmsff(tmp_path):
    """A user's 3-channel 40×40 Keras classifier: faces resized and repeated, no conversion asked for."""
    from lanmsff_edge.bench import run_bench
    from lanmsff_edge.keras import keras

    inputs = keras.Input((40, 40, 3))
    x = keras.layers.Conv2D(4, 3, strides=2, activation="relu")(inputs)
    x = keras.layers.GlobalAveragePooling2D()(x)
    model = keras.Model(inputs, keras.layers.Dense(8, activation="softmax")(x))
    path = tmp_path / "user_net.keras"
    model.save(path)
    report = run_bench([path], runs=2, warmup=0, dataset="synthetic", split="val", limit=8, convert=False,
                       input_range="-1,1")
    (row,) = report.results
    assert row.error is None and row.is_reference and row.accuracy is not None
    assert row.macs == 19 * 19 * 4 * 3 * 3 * 3 + 4 * 8


# ------------------------------------------------------------------------------------------ bad input

def test_cli_writes_json_markdown_plot_for_a_tflite(run_cli, int8_lanmsff, tmp_path):
    result = run_cli("bench", "--model", int8_lanmsff.path, "--runs", 2, "--warmup", 0, "--json", tmp_path / "b.json",
                     "--markdown", tmp_path / "b.md", "--plot", tmp_path / "b.png")
    assert result.exit_code == 0, result.output
    assert int8_lanmsff.path.name in result.output and "no float model given" in result.output
    document = json.loads((tmp_path / "b.json").read_text())
    assert document["results"][0]["speedup_vs_float"] is None
    assert (tmp_path / "b.md").read_text().startswith("## lanmsff-edge bench")
    assert _is_png(tmp_path / "b.png")


def _keras_file(tmp_path, name, inputs_shape, classes=8):
    from lanmsff_edge.keras import keras

    inputs = keras.Input(inputs_shape)
    x = keras.layers.Flatten()(inputs) if len(inputs_shape) > 1 else inputs
    model = keras.Model(inputs, keras.layers.Dense(classes, activation="softmax")(x))
    path = tmp_path / name
    model.save(path)
    return path


@pytest.mark.parametrize("make, message", [
    (lambda tmp: tmp / "absent.keras", "model file not found"),
    (lambda tmp: (tmp / "notes.txt").write_text("hello") and tmp / "notes.txt", "not a model file the bench knows"),
    (lambda tmp: (tmp / "fake.tflite").write_bytes(b"\x00" * 64) and tmp / "fake.tflite", "is not a .tflite model"),
    (lambda tmp: (tmp / "fake.keras").write_text("zip?") and tmp / "fake.keras", "cannot load model"),
    (lambda tmp: _keras_file(tmp, "vector.keras", (10,)), "is not an image tensor"),
    (lambda tmp: _keras_file(tmp, "two_channel.keras", (16, 16, 2)), "is not an image tensor"),
])
def test_bad_model_files_are_one_line_errors(run_cli, tmp_path, make, message):
    result = run_cli("bench", "--model", make(tmp_path), "--runs", 1)
    assert result.exit_code == (2 if message == "model file not found" else 1)  # a missing path: an option error
    assert message in result.output and "Traceback" not in result.output


def test_dataset_classes_must_match_the_model(run_cli, tmp_path):
    path = _keras_file(tmp_path, "five.keras", (64, 64, 1), classes=5)
    result = run_cli("bench", "--model", path, "--dataset", "synthetic", "--limit", 4, "--runs", 1)
    assert result.exit_code == 1
    assert "predicts 5 classes but synthetic val has 8" in result.output


def test_option_errors(run_cli, tmp_path):
    path = _keras_file(tmp_path, "ok.keras", (64, 64, 1))
    for args, code, message in ((("--threads", 0), 2, "Invalid value for '--threads'"),
                                (("--runs", 0), 2, "Invalid value for '--runs'"),
                                (("--data", tmp_path), 1, "--data needs --dataset"),
                                (("--android-delegates", "cpu,tpu"), 2, "choose from cpu, gpu, nnapi")):
        result = run_cli("bench", "--model", path, *args)
        assert result.exit_code == code and message in result.output, (args, result.output)


def test_kdef_accuracy_is_measured_on_the_named_fold(run_cli, tmp_path):
    from lanmsff_edge.data.testing import write_kdef

    # ten subjects: two per fold; fold 3's val split is its two subjects' 2 expressions × 1 angle = 4 faces
    subjects = tuple(f"{g}{n:02d}" for g in "FM" for n in range(1, 6))
    write_kdef(tmp_path / "kdef", subjects=subjects, sessions=("A",), expressions=("HA", "SA"), angles=("S",))
    path = _keras_file(tmp_path, "seven.keras", (64, 64, 1), classes=7)
    common = ("bench", "--model", path, "--no-convert", "--runs", 1, "--warmup", 0, "--dataset", "kdef",
              "--data", tmp_path / "kdef")
    result = run_cli(*common)
    assert result.exit_code == 1 and "kdef needs --fold 1..5" in result.output
    result = run_cli(*common, "--fold", 3, "--json", tmp_path / "b.json")
    assert result.exit_code == 0, result.output
    assert "accuracy on kdef fold 3 val (4 images)" in result.output
    settings = json.loads((tmp_path / "b.json").read_text())["settings"]
    assert (settings["fold"], settings["images"]) == (3, 4)
    result = run_cli("bench", "--model", path, "--fold", 3)
    assert result.exit_code == 1 and "--fold needs --dataset" in result.output


def test_no_model_and_nothing_bundled(tmp_path):
    from lanmsff_edge.bench.runner import bundled_models

    with pytest.raises(UserError, match="no bundled pretrained models yet; pass --model"):
        bundled_models(directory=tmp_path)


def test_bundled_models_follow_the_data_set(tmp_path):
    from lanmsff_edge.bench.runner import bundled_models

    for name in ("lanmsff_ferplus.keras", "lanmsff_ferplus_int8.tflite", "lanmsff_fer2013.keras"):
        (tmp_path / name).write_bytes(b"x")
    assert [p.name for p in bundled_models("fer2013", tmp_path)] == ["lanmsff_fer2013.keras"]
    assert [p.name for p in bundled_models(None, tmp_path)] == ["lanmsff_ferplus.keras", "lanmsff_ferplus_int8.tflite"]


def _realistic_report(device="cpu", load=0.2):
    """Rows as the bundled ferplus model gives them (names, runtimes and figures of a real run)."""
    rows = []
    for name, fmt, precision, p50, size, runtime in (
            ("lanmsff_ferplus.keras", "keras", "float32", 133.6, 1_782_579,
             "TensorFlow 2.21.0 tf.function, 1 thread (host CPU)"),
            ("lanmsff_ferplus_float32.tflite", "tflite", "float32", 37.57, 1_457_000,
             "LiteRT (ai_edge_litert 2.3.0) XNNPACK, 1 thread (host CPU)"),
            ("lanmsff_ferplus_int8.tflite", "tflite", "int8", 37.06, 446_668,
             "LiteRT (ai_edge_litert 2.3.0) XNNPACK, 1 thread (host CPU)")):
        row = _row(name, fmt, precision, p50, size)
        row.runtime, row.params, row.macs, row.accuracy, row.information_density = runtime, 358_600, 300_600_000, \
            0.4375, 122.0
        rows.append(row)
    rows[1].notes = ["converted from lanmsff_ferplus.keras by the bench"]
    rows[2].vs_float = {"images": 64, "lost": 2, "gained": 0, "agreement": 0.97, "p_value": 0.5}
    attach_ratios(rows)
    host = {"cpu": "AMD EPYC", "logical_cores": 2, "tensorflow": "2.21.0", "ai_edge_litert": "2.3.0",
            "date": "2026-12-07T22:58:12+00:00", "load_at_start": [load, load, load]}
    settings = {"runs": 50, "warmup": 10, "threads": 1, "dataset": "synthetic", "split": "val", "images": 64}
    if device == "mcu":
        micro = _row("lanmsff_ferplus_int8.tflite", "tflite", "int8", 900.0, 446_668)
        micro.runtime = "TFLite Micro 0.dev reference kernels, HOST time (not MCU time)"
        micro.macs, micro.params, micro.compare_speed = 300_600_000, 358_600, False
        micro.extra = {"arena_bytes": 602_112, "flash_bytes": 446_668, "tflm_unsupported_ops": [],
                       "parity": {"images": 8, "max_abs_diff": 1.0, "unit": "quantization steps",
                                  "top1_agreement": 1.0}}
        rows = [rows[0], micro]
        attach_ratios(rows)
    return BenchReport(device=device, host=host, settings=settings, results=rows,
                       notes=["a report note long enough to need wrapping: " + "word " * 60])


@pytest.mark.parametrize("device", ["cpu", "mcu"])
def test_the_default_table_fits_120_columns_and_explains_every_column(device):
    report = _realistic_report(device)
    text = report_module.format_table(report)
    assert max(len(line) for line in text.splitlines()) <= 120, text
    header = next(line for line in text.splitlines() if line.startswith("model "))
    legend = next(line for line in _joined(text) if line.startswith("columns: "))
    for column in re.split(r"\s{2,}", header.strip())[1:]:
        assert f"{column}: " in legend, column
    assert "marks: * the float reference (lanmsff_ferplus.keras, keras)" in text
    if device == "mcu":
        assert "parity: TFLite Micro against LiteRT on the same 8 inputs" in _flat(text)
        assert "random noise without --dataset" in _flat(text) and "arena: smallest TFLite Micro" in _flat(text)
        assert "lanmsff_ferplus_int8.tflite" in text  # names are shortened only when dropping columns is not enough
    else:
        assert "ID: information density" in _flat(text) and "[n] a note below" in text
        assert "rt a: TensorFlow 2.21.0 tf.function" in text and "rt b: LiteRT" in text
        assert "left out to fit 120 columns:" in _flat(text) and "--wide" in text
    wide = report_module.format_table(report, wide=True)
    wide_header = next(line for line in wide.splitlines() if line.startswith("model "))
    for column in ("mean±std ms", "p99 ms", "params", "runtime"):
        assert column in wide_header
    assert "left out" not in wide and "rt a:" not in wide
    assert report.results[-1].runtime in wide  # the runtime column spelled out


def _joined(text):
    """Wrapped prose lines joined again (a continuation starts with four spaces)."""
    lines = []
    for line in text.splitlines():
        if line.startswith("    ") and lines:
            lines[-1] += " " + line.strip()
        else:
            lines.append(line)
    return lines


def _flat(text):
    return "\n".join(_joined(text))


def test_a_busy_host_is_warned_about_in_the_header():
    calm = report_module.format_table(_realistic_report(load=0.3)).splitlines()
    assert "load 0.30" in calm[0] and not any(line.startswith("warning: the host was busy") for line in calm)
    busy = report_module.format_table(_realistic_report(load=3.5)).splitlines()
    assert "load 3.50" in busy[0] and busy[2].startswith("warning: the host was busy (load 3.50 on 2 cores")
    assert report_module.busy_host({"load_at_start": [1.0], "logical_cores": 2}, threads=1) is None
    assert report_module.busy_host({"load_at_start": [1.2], "logical_cores": 2}, threads=1)
    assert report_module.busy_host({"load_at_start": [1.2], "logical_cores": 8}, threads=4) is None


def _mcu_row(arena=602_112, flash=446_668, name="m_int8.tflite"):
    row = _row(name, "tflite", "int8", 900.0, flash)
    row.macs = 300_600_000
    row.extra = {"arena_bytes": arena, "flash_bytes": flash}
    return row


def test_a_model_that_fits_in_patches_has_no_why_not_and_one_that_could_gets_the_hint():
    from lanmsff_edge.bench import mcu

    row = _mcu_row()
    unpatched = mcu.board_rows([row])
    short = [entry for entry in unpatched if entry["arena_only"]]
    assert short and all(entry["reason"].startswith("RAM") for entry in short)
    hint, = mcu.patch_suggestions(unpatched, [])
    assert "m_int8.tflite: only its arena keeps it off" in hint and "--patches 4 --patches 6" in hint
    assert f"export-firmware --board {short[0]['board_key']}" in hint and "--max-arena" in hint

    patched = mcu.board_rows([row], [{"model": "m_int8.tflite", "patches": 6, "arena_bytes": 150_000}])
    helped = [entry for entry in patched if entry["fits_with_patches"] == 6]
    assert helped and all(entry["verdict"] == "fits with 6 patches" and entry["reason"] == "" for entry in helped)
    report = BenchReport(device="mcu", host={}, settings={"runs": 1, "warmup": 0, "threads": 1}, results=[row],
                         tables={"boards": patched})
    text = report_module.format_table(report)
    for entry in helped:
        line = next(line for line in text.splitlines() if line.startswith(entry["board_key"] + " "))
        assert line.rstrip().endswith("-"), line  # no "why not" mark on a row that fits
    assert max(len(line) for line in text.splitlines()) <= 120
    # two models in the board table, and a patch table with long regions: still 120 columns, nothing lost
    other = _mcu_row(name="lanmsff_ferplus_float32_converted.tflite", arena=2_200_000, flash=1_457_000)
    regions = "MAX_POOL_2D → 32×32×66; MAX_POOL_2D → 16×16×72; CONCATENATION → 16×16×144; ADD → 8×8×288"
    report.results, report.tables = [row, other], {"boards": mcu.board_rows([row, other]), "patches": [
        {"model": "lanmsff_ferplus_float32_converted.tflite", "patches": 6, "arena_bytes": 245_350,
         "macs": 304_500_000, "extra_macs": 0.013, "host_tflm_ms": 1436.5, "regions": regions.split("; "),
         "title": "Patch-based execution"}]}
    text = report_module.format_table(report)
    assert max(len(line) for line in text.splitlines()) <= 120, text
    assert regions in _flat(text) and "lanmsff_ferplus_float32_converted.tflite" in text
    wide = report_module.format_table(report, wide=True)
    assert "STM32H743 (NUCLEO-H743ZI2)" in wide and "STM32H743 (NUCLEO-H743ZI2)" not in text
    left = mcu.patch_suggestions(patched, [{"model": "m_int8.tflite", "patches": 6, "arena_bytes": 150_000}])
    assert all("were not enough" in note for note in left)  # boards 6 patches did not bring on, if any
    assert mcu.patch_suggestions(mcu.board_rows([_mcu_row(arena=40_000, flash=100_000)]), []) == []
