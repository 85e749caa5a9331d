"""train --init: a run starts from a trained model's weights (fine-tuning), or from all but its head (new classes)."""
import json

import numpy as np
import pytest

from lanmsff_edge.errors import UserError

pytestmark = pytest.mark.slow  # trains (seconds)

TINY = dict(dataset="synthetic", augment="none", verbose=0, limit=64, batch_size=16)


@pytest.fixture(scope="module")
def source(tmp_path_factory):
    """A one-epoch width-0.25 run: the model to start from."""
    from lanmsff_edge import train

    out = tmp_path_factory.mktemp("source") / "run"
    train(out=out, epochs=1, width=0.25, **TINY)
    return out


def weights_by_layer(model):
    return {layer.name: layer.get_weights() for layer in model.layers if layer.get_weights()}


def test_a_run_starts_from_the_weights_and_the_width_of_the_init_model(source, tmp_path):
    from lanmsff_edge import train
    from lanmsff_edge.model import load_model

    before = []

    class FirstWeights(__import__("lanmsff_edge.keras", fromlist=["keras"]).keras.callbacks.Callback):
        def on_train_begin(self, logs=None):
            before.append(weights_by_layer(self.model))

    out = tmp_path / "fine"
    train(out=out, epochs=1, init=str(source), learning_rate=1e-5, callbacks=[FirstWeights()], **TINY)
    expected = weights_by_layer(load_model(source / "model.keras"))
    assert before[0].keys() == expected.keys()
    for name, weights in expected.items():  # every layer, the head included (same 8 classes)
        for got, want in zip(before[0][name], weights):
            np.testing.assert_array_equal(got, want, err_msg=name)
    config = json.loads((out / "config.json").read_text())
    assert config["options"]["width"] == 0.25  # from the init run's config, not the default 1
    assert config["options"]["init"] == str(source.resolve())
    assert config["init"]["sha256"] and config["init"]["path"].endswith("model.keras")
    assert config["recipe"]["learning_rate"] == 1e-5


def test_another_class_count_starts_a_fresh_head_and_keeps_the_rest(source):
    from lanmsff_edge.model import build_model, load_model
    from lanmsff_edge.training.warm_start import load_initial_weights

    target = build_model(7, width=0.25)
    fresh_head = target.get_layer("head_softmax").get_weights()
    copied = load_initial_weights(target, source / "model.keras", "run")
    trained = weights_by_layer(load_model(source / "model.keras"))
    assert copied == len(trained) - 1
    for name, weights in weights_by_layer(target).items():
        want = fresh_head if name == "head_softmax" else trained[name]
        for got, expected in zip(weights, want):
            np.testing.assert_array_equal(got, expected, err_msg=name)


def test_another_architecture_or_a_tflite_file_is_a_one_line_error(source, tmp_path):
    from lanmsff_edge import train
    from lanmsff_edge.model import build_model
    from lanmsff_edge.training.warm_start import load_initial_weights, resolve_init

    with pytest.raises(UserError, match="--width"):
        load_initial_weights(build_model(8, width=0.5), source / "model.keras", "run")
    with pytest.raises(UserError, match="--width"):
        train(out=tmp_path / "wide", epochs=1, init=str(source), width=0.5, **TINY)
    tflite = tmp_path / "model.tflite"
    tflite.write_bytes(b"TFL3")
    with pytest.raises(UserError, match="TFLite"):
        resolve_init(tflite)
    with pytest.raises(UserError, match="not found"):
        resolve_init(tmp_path / "missing.keras")


def test_the_init_model_cannot_change_on_resume(source, tmp_path, run_cli):
    from lanmsff_edge import train

    out = tmp_path / "fine"
    train(out=out, epochs=1, init=str(source), **TINY)
    result = run_cli("train", "--out", str(out), "--resume", "--epochs", "2", "--init", str(tmp_path / "other"))
    assert result.exit_code != 0
    assert "init" in result.output and "Traceback" not in result.output
