"""Quantization: float TFLite = Keras, int8 graphs integer-only and TFLite Micro-ready, LiteRT = TFLM, QAT models
what int8 computes, every LANMSFF layer quantized, and the quantize command's refusals and report."""
import json

import numpy as np
import pytest

from lanmsff_edge.keras import keras
from lanmsff_edge.model import build_model, save_model
from lanmsff_edge.quantize import convert, convert_keras, qat, verify
from lanmsff_edge.quantize.rewrite import relu_before_pool
from lanmsff_edge.runtimes.litert import LiteRTRuntime
from lanmsff_edge.runtimes.micro import TFLM_BUILTIN_OPS
from lanmsff_edge.tflite_graph import read_tflite

# Ops a microcontroller build must not need, and what a dynamic shape or a dilated convolution would bring in.
FORBIDDEN_OPS = {"SHAPE", "REDUCE_PROD", "PACK", "GATHER", "STRIDED_SLICE", "SPACE_TO_BATCH_ND", "BATCH_TO_SPACE_ND",
                 "DEQUANTIZE"}


def _train_briefly(model, images, epochs, seed):
    """A few epochs at a high learning rate, then batch-norm statistics re-estimated on one large batch: with only
    ~100 steps the moving averages (momentum 0.99) are still far from the data and the model would predict one
    class. Dropout is off while training, and restored afterwards."""
    from lanmsff_edge.data import make_tf_dataset, to_model_input

    dropouts = [layer for layer in model.layers if isinstance(layer, keras.layers.Dropout)]
    norms = [layer for layer in model.layers if isinstance(layer, keras.layers.BatchNormalization)]
    for layer in dropouts:
        layer.rate = 0.0
    model.compile(keras.optimizers.Adam(3e-3), "categorical_crossentropy", ["accuracy"])
    model.fit(make_tf_dataset(images, 32, shuffle=True, seed=seed), epochs=epochs, verbose=0)
    for layer in norms:
        layer.momentum = 0.0
    model(to_model_input(images.images[:256]), training=True)
    for layer in norms:
        layer.momentum = 0.99
    for layer in dropouts:
        layer.rate = 0.4
    return model


@pytest.fixture(scope="module")
def synthetic():
    from lanmsff_edge.data import load_dataset

    return {"train": load_dataset("synthetic", split="train", limit=960),
            "val": load_dataset("synthetic", split="val", limit=240)}


@pytest.fixture(scope="module")
def faces(synthetic):
    from lanmsff_edge.data import to_model_input

    return to_model_input(synthetic["val"].images[:48])


@pytest.fixture(scope="module")
def tiny(synthetic):
    """A width-0.25 LANMSFF (8 classes) trained for three epochs on synthetic faces (~100 % on them)."""
    keras.utils.set_random_seed(3)
    return _train_briefly(build_model(8, width=0.25), synthetic["train"], epochs=3, seed=3)


@pytest.fixture(scope="module")
def calibration_inputs(synthetic):
    from lanmsff_edge.calibration import model_inputs, representative_sample

    return model_inputs(representative_sample(synthetic["train"], 64))


@pytest.fixture(scope="module")
def aware(tiny, calibration_inputs):
    """The quantization-aware copy of ``tiny`` with its ranges calibrated (no fine-tuning)."""
    model = qat.quantize_aware_model(tiny)
    qat.calibrate_ranges(model, calibration_inputs)
    return model


@pytest.fixture(scope="module")
def int8_models(aware, tiny, calibration_inputs):
    """Flatbuffers: qat and ptq with int8 I/O, qat with float I/O."""
    from lanmsff_edge.calibration import representative_dataset

    representative = representative_dataset(calibration_inputs)
    return {
        "qat": convert(aware, "qat", representative),
        "ptq": convert_keras(tiny, "int8", calibration_inputs),
        "qat_float_io": convert(aware, "qat", representative, io="float"),
        "ptq_float_io": convert_keras(tiny, "int8", calibration_inputs, io="float"),
    }


def test_relu_before_pool_is_exact_and_leaves_no_pool_relu_pair(tiny, faces):
    rewritten = relu_before_pool(tiny)
    assert np.array_equal(tiny(faces[:8]).numpy(), rewritten(faces[:8]).numpy())
    for layer in rewritten.layers:
        if isinstance(layer, keras.layers.ReLU):
            assert not isinstance(layer.input._keras_history.layer, keras.layers.MaxPooling2D), layer.name
    assert [layer.name for layer in rewritten.layers if "pool" in layer.name] == \
        [layer.name for layer in tiny.layers if "pool" in layer.name]
    assert relu_before_pool(rewritten) is rewritten  # nothing left to swap


@pytest.mark.slow
def test_float_tflite_matches_keras_on_random_inputs(tiny, faces):
    assert len(np.unique(tiny.predict(faces, verbose=0).argmax(1))) == 8  # the outputs do depend on the input
    x = np.random.default_rng(0).random((6, 64, 64, 1), dtype=np.float32)
    expected = tiny.predict(x, verbose=0)
    model = LiteRTRuntime(convert_keras(tiny, "float32"))
    assert model.input_dtype == np.float32 and model.batch_size == 1
    np.testing.assert_allclose(model.predict(x), expected, atol=1e-4)
    fp16 = LiteRTRuntime(convert_keras(tiny, "fp16"))
    np.testing.assert_allclose(fp16.predict(x), expected, atol=5e-2)  # float16 weights: close, not exact


def test_every_layer_of_the_qat_model_is_quantized(aware):
    from tensorflow_model_optimization.python.core.quantization.keras.quantize_layer import QuantizeLayer
    from tensorflow_model_optimization.python.core.quantization.keras.quantize_wrapper import QuantizeWrapper

    configs = {}
    for layer in aware.layers:
        if isinstance(layer, (keras.layers.InputLayer, QuantizeLayer)):
            continue
        assert isinstance(layer, QuantizeWrapper), f"{layer.name} is not quantized"
        configs[layer.layer.name] = type(layer.quantize_config).__name__
    assert configs["block2_massatt_up1"] == "Default8BitConvTransposeQuantizeConfig"
    assert configs["block2_shuffle"] == configs["block2_split"] == "NoOpQuantizeConfig"
    for name in ("block2_massatt_chmean", "block2_massatt_map", "block2_attend", "fusion_pwfs1"):
        assert configs[name] == "Default8BitOutputQuantizeConfig", name
    assert type(aware.get_layer("quant_fusion_pwfs1").layer).__name__ == "QuantizedPWFS"
    # conv → BN → ReLU fused: no fake-quant between them (BN folds into the convolution)
    assert configs["block1_c1_bn"] == "NoOpQuantizeConfig"
    assert configs["block1_c3_bn"] == "NoOpQuantizeConfig"  # thanks to relu_before_pool


@pytest.mark.parametrize("method", ["qat", "ptq"])
def test_int8_graph_is_integer_only_with_int8_io_and_micro_ops(int8_models, method):
    graph = read_tflite(int8_models[method])
    assert [t.dtype for t in graph.inputs + graph.outputs] == ["int8", "int8"]
    assert graph.inputs[0].shape == (1, 64, 64, 1)
    assert graph.fully_integer
    assert verify.float_ops(graph) == []
    assert not (graph.op_set & FORBIDDEN_OPS), graph.op_set & FORBIDDEN_OPS
    assert graph.op_set <= set(TFLM_BUILTIN_OPS)
    assert verify.requantize_ops(graph) == []  # no int8→int8 QUANTIZE between blocks
    assert {"TRANSPOSE_CONV", "MINIMUM", "SUB", "MUL", "MEAN", "SPLIT", "TRANSPOSE"} <= graph.op_set
    assert "BATCH_NORMALIZATION" not in graph.op_set and graph.op_counts["ADD"] == 6  # PWFS's adds only: BN folded
    verify.check_integer(graph, "int8")
    assert graph.inputs[0].scale == pytest.approx(1 / 255, rel=1e-3) and graph.inputs[0].zero_point == -128


def test_qat_input_is_exactly_the_normalised_pixel(int8_models):
    graph = read_tflite(int8_models["qat"])
    assert graph.inputs[0].scale == pytest.approx(1 / 255, rel=1e-6)
    assert graph.outputs[0].scale == pytest.approx(1 / 256) and graph.outputs[0].zero_point == -128


@pytest.mark.parametrize("method", ["qat_float_io", "ptq_float_io"])
def test_float_io_keeps_quantize_and_dequantize_at_the_ends_only(int8_models, method):
    graph = read_tflite(int8_models[method])
    assert [t.dtype for t in graph.inputs + graph.outputs] == ["float32", "float32"]
    assert graph.ops[0].name == "QUANTIZE" and graph.ops[-1].name == "DEQUANTIZE"
    assert graph.op_counts["QUANTIZE"] == 1 and graph.op_counts["DEQUANTIZE"] == 1
    assert verify.float_ops(graph) == []
    verify.check_integer(graph, "float")
    with pytest.raises(Exception, match="input type float32, expected int8"):
        verify.check_integer(graph, "int8")


@pytest.mark.parametrize("method", ["qat", "ptq", "qat_float_io"])
def test_litert_and_tflite_micro_give_the_same_output(int8_models, faces, method):
    """LiteRT's reference kernels and TFLite Micro compute the same integers (to one step). XNNPACK and the
    optimized builtin kernels round differently (measured: up to ~20 output steps on this model), so they are
    only bounded."""
    data = int8_models[method]
    check = verify.require_micro(data)
    assert check["loadable"] and 16 * 1024 < check["arena_bytes"] < 2 * 1024 * 1024
    # identical almost always; once (a full-suite run, where multithreaded training gave slightly different
    # weights) one output differed by a single step: the two reference implementations can round a tie apart
    assert verify.micro_agreement(data, faces[:8], check["arena_bytes"], kernels="reference") <= 1
    for kernels in ("auto", "builtin"):
        assert verify.micro_agreement(data, faces[:8], check["arena_bytes"], kernels=kernels) <= 32


def test_float_model_of_a_fresh_qat_model_is_the_original(aware, tiny, faces):
    copy = qat.float_model_of(aware, tiny)
    assert copy is not tiny
    np.testing.assert_array_equal(copy.predict(faces, verbose=0), tiny.predict(faces, verbose=0))
    (kernel,) = [v for v in aware.get_layer("quant_block1_c1_conv").weights if v.name == "block1_c1_conv/kernel:0"]
    kernel.assign_add(np.ones(kernel.shape, np.float32))
    try:
        moved = qat.float_model_of(aware, tiny).get_layer("block1_c1_conv").get_weights()[0]
        np.testing.assert_allclose(moved, tiny.get_layer("block1_c1_conv").get_weights()[0] + 1)
    finally:
        kernel.assign_sub(np.ones(kernel.shape, np.float32))


def test_qat_model_predicts_what_the_int8_model_computes(aware, int8_models, faces):
    """The fake-quant graph is a model of the int8 one: their outputs differ by a few output steps at most. A
    layer the QAT graph quantized differently from the converter (a missing range, an unfused BN) breaks this."""
    simulated = aware.predict(faces, verbose=0)
    int8 = LiteRTRuntime(int8_models["qat"]).predict(faces)
    assert np.abs(simulated - int8).max() <= 0.05
    assert np.mean(np.abs(simulated - int8)) <= 0.005
    assert np.mean(simulated.argmax(1) == int8.argmax(1)) >= 0.95


def test_ptq_widens_ranges_of_tensors_that_never_fire():
    """A ReLU path that is 0 on every calibration image calibrates to [0, 0]: left as is, its scale is ~1e-8, the
    next layer's int32 bias overflows and XNNPACK refuses the model."""
    from lanmsff_edge.quantize.converter import MIN_RANGE

    keras.utils.set_random_seed(0)
    inputs = keras.Input((16, 16, 1))
    dead = keras.layers.Conv2D(2, 3, padding="same", activation="relu", kernel_initializer="zeros",
                               bias_initializer=keras.initializers.Constant(-1.0), name="dead")(inputs)
    x = keras.layers.Conv2D(3, 3, padding="same", bias_initializer=keras.initializers.Constant(0.5))(dead)
    x = keras.layers.Add()([x, keras.layers.Conv2D(3, 1)(inputs)])
    model = keras.Model(inputs, keras.layers.Dense(4, activation="softmax")(keras.layers.GlobalAveragePooling2D()(x)))
    samples = np.random.default_rng(0).random((8, 16, 16, 1), dtype=np.float32)
    info = {}
    data = convert(model, "ptq", lambda: ([s[None]] for s in samples), info=info)
    assert len(info["widened_ranges"]) == 1 and "dead" in info["widened_ranges"][0]
    (tensor,) = [t for t in read_tflite(data).tensors if "dead" in t.name and not t.constant and t.dtype == "int8"]
    assert tensor.scale == pytest.approx(MIN_RANGE / 255, rel=1e-3)
    runtime = LiteRTRuntime(data)
    assert runtime.xnnpack and runtime.delegate_error is None
    np.testing.assert_allclose(runtime.predict(samples), model.predict(samples, verbose=0), atol=0.02)


def test_check_integer_names_float_ops():
    from lanmsff_edge.errors import UserError

    inputs = keras.Input((8, 8, 1))
    model = keras.Model(inputs, keras.layers.Dense(3, activation="softmax")(keras.layers.Flatten()(inputs)))
    graph = read_tflite(convert_keras(model, "dynamic"))
    with pytest.raises(UserError, match="not fully integer: float ops RESHAPE#0, FULLY_CONNECTED#1, SOFTMAX#2"):
        verify.check_integer(graph, "int8")


def test_micro_check_reports_missing_ops(tiny_tflite):
    from lanmsff_edge.errors import UserError

    data = tiny_tflite("gelu_int8").read_bytes()
    result = verify.micro_check(data)
    assert result["loadable"] is False and "GELU" in result["error"]
    with pytest.raises(UserError, match="does not run in TFLite Micro.*GELU"):
        verify.require_micro(data, "gelu")


def test_litert_model_quantizes_inputs_and_dequantizes_outputs(int8_models, faces):
    model = LiteRTRuntime(int8_models["qat"])
    assert model.input_dtype == np.int8 and model.output_dtype == np.int8 and model.num_classes == 8
    raw = model.quantize_input(faces[:1])
    assert raw.dtype == np.int8
    np.testing.assert_array_equal(raw.astype(int), np.round(faces[:1] * 255).astype(int) - 128)
    output = model.invoke_raw(raw)
    np.testing.assert_allclose(model.predict(faces[:1]), (output.astype(np.float32) + 128) / 256)
    assert model.predict(faces[:3]).shape == (3, 8)
    assert model.backend == "ai_edge_litert"


# ------------------------------------------------------------------------------------------------ the command

@pytest.fixture(scope="module")
def model_files(tmp_path_factory, tiny):
    folder = tmp_path_factory.mktemp("models")
    save_model(tiny, folder / "tiny.keras")
    keras.utils.set_random_seed(1)
    save_model(build_model(7, width=0.25), folder / "seven.keras")
    inputs = keras.Input((64, 64, 1))
    pooled = keras.layers.GlobalAveragePooling2D()(inputs)
    other = keras.Model(inputs, keras.layers.Dense(8, activation="softmax")(pooled))
    save_model(other, folder / "other.keras")
    return folder


@pytest.mark.parametrize("args, message", [
    (["--model", "{folder}/missing.keras"], "model file not found"),
    (["--model", "{folder}/other.keras"], "is not a LANMSFF model"),
    (["--model", "{folder}/seven.keras"], "predicts 7 classes but synthetic has 8"),
    (["--model", "{folder}/tiny.keras", "--method", "int4"], "Invalid value for '--method'"),
    (["--model", "{folder}/tiny.keras", "--out", "{folder}/x.onnx"], "must end in .tflite"),
])
def test_bad_input_gives_a_message_and_nonzero_exit(run_cli, model_files, tmp_path, args, message):
    args = [a.format(folder=model_files) for a in args]
    if "--out" not in args:
        args += ["--out", str(tmp_path / "q.tflite")]
    result = run_cli("quantize", "--dataset", "synthetic", "--limit", "8", *args)
    assert result.exit_code != 0
    assert message in result.output
    assert "Traceback" not in result.output
    assert not (tmp_path / "q.tflite").exists()


@pytest.mark.slow
def test_quantize_ptq_writes_model_report_and_calibration(run_cli, model_files, tmp_path, monkeypatch):
    monkeypatch.delenv("LANMSFF_CACHE", raising=False)
    out = tmp_path / "q" / "tiny_int8.tflite"
    result = run_cli("quantize", "--model", model_files / "tiny.keras", "--dataset", "synthetic", "--method", "ptq",
                     "--limit", "40", "--calibration-size", "60", "--out", out)
    assert result.exit_code == 0, result.output
    assert "fewer than the 60 asked for calibration" in result.output
    assert "| ptq |" in result.output and "| keras float32 |" in result.output
    report = json.loads(out.with_suffix(".json").read_text())
    assert report["dataset"] == "synthetic" and report["split"] == "val" and report["images"] == 40
    (row,) = report["variants"]
    assert row["method"] == "ptq" and row["file"] == str(out)
    assert row["size_bytes"] == out.stat().st_size
    assert row["input"]["dtype"] == row["output"]["dtype"] == "int8"
    assert row["output"]["scale"] == pytest.approx(1 / 256)
    assert row["tflm"]["loadable"] and row["tflm_vs_litert_reference_max_steps"] <= 1
    pairs = {(pair["a"], pair["b"]): pair for pair in row["parity"]["pairs"]}  # the kernel parity section
    assert row["parity"]["images"] == pairs[("xnnpack", "reference")]["images"] == 40
    assert pairs[("reference", "tflm")]["max_abs_diff"] == row["tflm_vs_litert_reference_max_steps"]
    assert "Kernel parity on the first 40 images of val" in result.output
    assert "| ptq | xnnpack vs reference |" in result.output
    assert row["params"] == report["reference"]["params"] > 20_000
    assert 0 <= row["accuracy"] <= 1 and 0 <= row["agreement"] <= 1
    assert 0 <= row["mean_abs_diff"] <= row["max_abs_diff"] <= 1
    versus = row["vs_keras"]  # the images it changed explain the accuracy difference exactly
    assert versus["images"] == 40 and versus["agreement"] == pytest.approx(row["agreement"])
    assert versus["gained"] - versus["lost"] == row["correct"] - report["reference"]["correct"]
    assert f"−{versus['lost']} / +{versus['gained']} (p " in result.output
    calibration = json.loads(out.with_name("tiny_int8.calibration.json").read_text())
    assert calibration["size"] == 40 and sum(calibration["class_counts"].values()) == 40
    assert calibration["activation_ranges"]["block4_massatt_map"]["max"] <= 1.0
    assert list((out.parent / "calibration_cache").glob("synthetic-train-n60-*.npz"))


@pytest.mark.slow
def test_qat_int8_keeps_the_accuracy_of_its_float_weights(model_files, tmp_path, monkeypatch):
    """The whole qat path (calibrated ranges, one fine-tuning epoch, conversion, checks) on a trained model."""
    from lanmsff_edge.quantize import quantize

    monkeypatch.delenv("LANMSFF_CACHE", raising=False)
    # augment="none": the tiny model was trained without augmentation, and fine-tuning it on augmented faces it
    # never saw moved it by up to 12 points in one epoch (a run's own augmentation is quantize's default)
    report = quantize(model_files / "tiny.keras", "synthetic", method="qat", epochs=1, limit=320,
                      calibration_size=64, augment="none", out=tmp_path / "tiny_qat.tflite")
    (row,) = report["variants"]
    reference = report["reference"]["accuracy"]
    fine_tuned = report["qat"]["fine_tuned_float"]["accuracy"]
    assert reference >= 0.6  # the comparison means something only for a model that learned
    assert report["qat"]["kept_epoch"] == 1 and len(report["qat"]["history"]["val_accuracy"]) == 1
    assert not (tmp_path / "tiny_qat.qat_checkpoint.npz").exists()  # written after the epoch, removed at the end
    # int8 keeps what its own (fine-tuned) float weights know: the cost of int8 itself
    assert row["accuracy"] >= fine_tuned - 0.02, (row["accuracy"], fine_tuned)
    # and QAT does not wreck the model it started from. The tiny model's training is not bit-reproducible (CPU
    # kernels), and one fine-tuning epoch moves a weaker one by a few points either way, so the bound is loose;
    # a broken conversion (input scale, ranges) falls far below it.
    assert row["accuracy"] >= reference - 0.05, (row["accuracy"], reference)
    assert row["agreement"] >= 0.85, row["vs_keras"]
    assert row["fully_integer"] and row["tflm"]["loadable"] and row["tflm_vs_litert_reference_max_steps"] <= 1
    assert row["input"]["scale"] == pytest.approx(1 / 255) and row["input"]["zero_point"] == -128


@pytest.mark.slow
def test_quantize_reads_the_data_set_from_the_run_folder(run_cli, model_files, tmp_path):
    import shutil

    run = tmp_path / "run"
    run.mkdir()
    shutil.copy(model_files / "tiny.keras", run / "model.keras")
    (run / "config.json").write_text(json.dumps({"dataset": "synthetic"}))
    out = tmp_path / "tiny_dynamic.tflite"
    result = run_cli("quantize", "--model", run, "--method", "dynamic", "--split", "test", "--limit", "16",
                     "--out", out)
    assert result.exit_code == 0, result.output
    report = json.loads(out.with_suffix(".json").read_text())
    assert report["dataset"] == "synthetic" and report["split"] == "test"
    assert report["model"] == str(run / "model.keras")
    (row,) = report["variants"]
    assert row["input"]["dtype"] == "float32" and not row["fully_integer"]
    assert row["tflm"]["loadable"] is False and row["tflm"]["error"]  # hybrid kernels: not on a microcontroller
    assert row["agreement"] >= 0.9 and row["max_abs_diff"] < 0.1
    assert "calibration" not in report and not (tmp_path / "calibration_cache").exists()
    assert "| dynamic |" in result.output and "no |" in result.output


@pytest.mark.slow
def test_qat_fine_tunes_with_the_training_runs_augmentation(model_files, tmp_path, monkeypatch):
    import shutil

    from lanmsff_edge.errors import UserError
    from lanmsff_edge.quantize import pipeline

    run = tmp_path / "run"
    run.mkdir()
    shutil.copy(model_files / "tiny.keras", run / "model.keras")
    (run / "config.json").write_text(json.dumps({"dataset": "synthetic", "options": {"augment": "none"}}))
    seen = []

    def fine_tune(*args, augment, **kwargs):
        seen.append(augment)
        raise UserError("stopped before fine-tuning")

    monkeypatch.setattr(pipeline.qat, "fine_tune", fine_tune)
    # which augmentation reaches fine_tune is all this test checks: the QAT wrapping and its calibration before it
    # (tested above) are skipped
    monkeypatch.setattr(pipeline.qat, "quantize_aware_model", lambda model: model)
    monkeypatch.setattr(pipeline.qat, "calibrate_ranges", lambda model, inputs: {})
    monkeypatch.delenv("LANMSFF_CACHE", raising=False)
    for asked in (None, "online"):
        with pytest.raises(UserError, match="stopped before"):
            pipeline.quantize(run, method="qat", limit=16, calibration_size=16, augment=asked,
                              out=tmp_path / "q.tflite")
    assert seen == ["none", "online"]


@pytest.mark.slow
def test_qat_of_a_votes_trained_run_fine_tunes_on_the_votes(model_files, tmp_path, monkeypatch):
    import shutil

    from lanmsff_edge.errors import UserError
    from lanmsff_edge.quantize import pipeline

    seen = []

    def fine_tune(*args, soft_targets, settings, **kwargs):
        seen.append((soft_targets, settings.get("targets")))
        raise UserError("stopped before fine-tuning")

    monkeypatch.setattr(pipeline.qat, "fine_tune", fine_tune)
    monkeypatch.setattr(pipeline.qat, "quantize_aware_model", lambda model: model)
    monkeypatch.setattr(pipeline.qat, "calibrate_ranges", lambda model, inputs: {})
    monkeypatch.delenv("LANMSFF_CACHE", raising=False)
    for targets in ("votes", "majority", None):
        run = tmp_path / f"run_{targets}"
        run.mkdir()
        shutil.copy(model_files / "tiny.keras", run / "model.keras")
        options = {"augment": "none", **({"targets": targets} if targets else {})}
        (run / "config.json").write_text(json.dumps({"dataset": "synthetic", "options": options}))
        with pytest.raises(UserError, match="stopped before"):
            pipeline.quantize(run, method="qat", limit=16, calibration_size=16, out=tmp_path / f"{targets}.tflite")
    # the setting joins the checkpoint's only for votes, so majority checkpoints from before it still resume
    assert seen == [(True, "votes"), (False, None), (False, None)]


def test_litert_backends_compute_the_same(int8_models, faces):
    from lanmsff_edge.errors import UserError
    from lanmsff_edge.runtimes.litert import interpreter_class

    litert = LiteRTRuntime(int8_models["qat"], kernels="reference")
    tensorflow = LiteRTRuntime(int8_models["qat"], backend="tensorflow", kernels="reference")
    assert (litert.backend, tensorflow.backend) == ("ai_edge_litert", "tensorflow")
    np.testing.assert_array_equal(litert.predict(faces[:4]), tensorflow.predict(faces[:4]))
    with pytest.raises(UserError, match="unknown LiteRT backend"):
        interpreter_class("onnx")
    with pytest.raises(UserError, match="unknown kernels"):
        LiteRTRuntime(int8_models["qat"], kernels="fast")
    with pytest.raises(UserError, match="cannot load <bytes> in LiteRT"):
        LiteRTRuntime(b"\x1c\x00\x00\x00TFL3" + bytes(64))


@pytest.mark.slow
@pytest.mark.parametrize("options", [{"massatt_form": "equation"}, {"pwfs": False}, {"massatt": False}])
def test_model_variants_convert_to_integer_only_micro_models(options, calibration_inputs, faces):
    """The ablations and the paper-equation MassAtt are LANMSFFs too: QAT covers them without float ops."""
    from lanmsff_edge.calibration import representative_dataset

    keras.utils.set_random_seed(5)
    model = build_model(8, width=0.25, **options)
    aware = qat.quantize_aware_model(model)
    qat.calibrate_ranges(aware, calibration_inputs)
    data = convert(aware, "qat", representative_dataset(calibration_inputs))
    graph = verify.check_integer(read_tflite(data), "int8")
    assert not (graph.op_set & FORBIDDEN_OPS)
    check = verify.require_micro(data)
    assert verify.micro_agreement(data, faces[:2], check["arena_bytes"]) <= 1  # see the test above


# ------------------------------------------------------------------------------------------------ QAT resume

class _StopAfter(keras.callbacks.Callback):
    """Interrupts training at the end of epoch ``epochs`` (as Ctrl-C would, after the checkpoint is written)."""

    def __init__(self, epochs):
        super().__init__()
        self.epochs = epochs

    def on_epoch_end(self, epoch, logs=None):
        if epoch + 1 == self.epochs:
            raise KeyboardInterrupt


class _Watch(keras.callbacks.Callback):
    def __init__(self):
        super().__init__()
        self.epochs, self.start_weights = [], None

    def on_train_begin(self, logs=None):
        self.start_weights = self.model.get_weights()

    def on_epoch_begin(self, epoch, logs=None):
        self.epochs.append(epoch)


@pytest.mark.slow
def test_interrupted_qat_resumes_at_its_next_epoch(tiny, synthetic, calibration_inputs, tmp_path, capsys):
    from lanmsff_edge.artifacts import checkpoint as ckpt
    from lanmsff_edge.quantize import qat_checkpoint

    train, val = synthetic["train"].subset(np.arange(128)), synthetic["val"].subset(np.arange(64))
    path = tmp_path / "q.qat_checkpoint.npz"
    settings = {"model_sha256": "abc", "seed": 0}

    def aware_model():
        model = qat.quantize_aware_model(tiny)
        qat.calibrate_ranges(model, calibration_inputs)
        return model

    with pytest.raises(KeyboardInterrupt):
        qat.fine_tune(aware_model(), train, val, epochs=2, checkpoint_path=path, settings=settings,
                      callbacks=[_StopAfter(1)])
    saved = ckpt.load(path)
    assert saved.epoch == 1 and saved.state["settings"] == settings and saved.state["best_epoch"] == 1
    assert [row["epoch"] for row in saved.state["history"]] == [1] and "val_accuracy" in saved.state["history"][0]

    resumed_from = qat_checkpoint.open_for(path, True, settings, epochs=2)
    watch = _Watch()
    capsys.readouterr()
    result = qat.fine_tune(aware_model(), train, val, epochs=2, checkpoint_path=path, settings=settings,
                           resume_from=resumed_from, callbacks=[watch], announce=True)
    lines = [line for line in capsys.readouterr().err.splitlines() if line.startswith("qat")]
    assert watch.epochs == [1]  # only the second epoch ran
    assert all(np.array_equal(a, b) for a, b in zip(watch.start_weights, saved.weights))  # from the checkpoint
    assert result["resumed_at_epoch"] == 2 and result["kept_epoch"] in (1, 2)
    history = result["history"]["val_accuracy"]
    assert len(history) == 2 and history[0] == saved.state["history"][0]["val_accuracy"]
    assert ckpt.load(path).epoch == 2 and len(lines) == 1 and lines[0].startswith("qat      epoch 2:")


def _fake_checkpoint(path, settings, epoch=1):
    from lanmsff_edge.artifacts import checkpoint as ckpt

    ckpt.save(ckpt.Checkpoint(state={"epoch": epoch, "settings": settings}, weights=[np.zeros(2)],
                              optimizer_names=[], optimizer_values=[]), path)


def test_a_qat_checkpoint_is_continued_only_when_asked_and_with_the_same_settings(tmp_path):
    from lanmsff_edge.errors import UserError
    from lanmsff_edge.quantize.qat_checkpoint import open_for

    path = tmp_path / "q.qat_checkpoint.npz"
    settings = {"model_sha256": "abc", "learning_rate": 5e-5, "seed": 0}
    assert open_for(path, True, settings, epochs=3) is None  # nothing to resume: start at epoch 1
    _fake_checkpoint(path, settings, epoch=2)
    with pytest.raises(UserError, match="holds 2 finished QAT epoch.*--resume, or delete"):
        open_for(path, False, settings, epochs=3)
    with pytest.raises(UserError, match=r"learning_rate 5e-05 → 0\.001"):
        open_for(path, True, {**settings, "learning_rate": 1e-3}, epochs=3)
    with pytest.raises(UserError, match="already holds 2 QAT epochs, more than --epochs 1"):
        open_for(path, True, settings, epochs=1)
    assert open_for(path, True, settings, epochs=3).epoch == 2


def test_quantize_refuses_to_overwrite_an_interrupted_qat_run(run_cli, model_files, tmp_path):
    out = tmp_path / "q.tflite"
    checkpoint = tmp_path / "q.qat_checkpoint.npz"
    _fake_checkpoint(checkpoint, {"model_weights_sha256": "another model"})
    before = checkpoint.read_bytes()
    args = ["quantize", "--model", model_files / "tiny.keras", "--dataset", "synthetic", "--limit", "16",
            "--out", out]
    result = run_cli(*args)
    assert result.exit_code == 1 and "holds 1 finished QAT epoch(s)" in result.output
    result = run_cli(*args, "--resume")
    assert result.exit_code == 1 and "model_weights_sha256 'another model' →" in result.output
    assert "Traceback" not in result.output
    assert checkpoint.read_bytes() == before and not out.exists()


def test_the_starting_model_is_recognised_by_its_weights_not_its_file(tiny, tmp_path):
    from lanmsff_edge.model import load_model
    from lanmsff_edge.quantize.qat_checkpoint import weights_digest

    save_model(tiny, tmp_path / "a.keras")
    save_model(tiny, tmp_path / "b.keras")
    first, second = load_model(tmp_path / "a.keras"), load_model(tmp_path / "b.keras")
    assert weights_digest(first) == weights_digest(second) == weights_digest(tiny)
    weights = second.get_weights()
    weights[0] = weights[0] + 1e-3
    second.set_weights(weights)
    assert weights_digest(second) != weights_digest(first)
