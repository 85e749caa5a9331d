"""Pretrained-model loader: file layout, model cards, clear errors; the shipped files against their cards."""
import json

import numpy as np
import pytest

from conftest import shared_archive
from lanmsff_edge import pretrained
from lanmsff_edge.data.classes import CLASS_NAMES
from lanmsff_edge.errors import UserError


@pytest.fixture(scope="module")
def installed(tmp_path_factory):
    """A folder laid out like the package's: a tiny float model, its TFLite conversion and a model card."""
    from lanmsff_edge.keras import keras, tf
    from lanmsff_edge.model import build_model, save_model

    folder = tmp_path_factory.mktemp("pretrained")
    keras.utils.set_random_seed(7)
    model = build_model(8, width=0.25)
    save_model(model, pretrained.model_path("ferplus", "float", folder))
    inputs = keras.Input((64, 64, 1))  # a small stand-in for the int8 file: the loader does not care
    outputs = keras.layers.Dense(8, activation="softmax")(keras.layers.GlobalAveragePooling2D()(inputs))
    pretrained.model_path("ferplus", "int8", folder).write_bytes(
        tf.lite.TFLiteConverter.from_keras_model(keras.Model(inputs, outputs)).convert())
    names = [f"expression{i}" for i in range(8)]
    pretrained.card_path("ferplus", folder).write_text(json.dumps({"dataset": "ferplus", "class_names": names}))
    return folder, model, names


def test_files_are_named_per_model_and_format(tmp_path):
    assert pretrained.model_path("ferplus", "float", tmp_path).name == "lanmsff_ferplus.keras"
    assert pretrained.model_path("fer2013", "int8", tmp_path).name == "lanmsff_fer2013_int8.tflite"
    assert pretrained.card_path("fer2013", tmp_path).name == "lanmsff_fer2013.json"


def test_load_returns_the_float_model_and_the_litert_model(installed):
    from lanmsff_edge.runtimes.litert import TFLiteModel

    folder, model, names = installed
    assert pretrained.available(folder) == [("ferplus", "float"), ("ferplus", "int8")]
    loaded = pretrained.load("ferplus", directory=folder)
    x = np.random.default_rng(0).random((2, 64, 64, 1), dtype=np.float32)
    np.testing.assert_allclose(loaded.predict(x, verbose=0), model.predict(x, verbose=0), atol=1e-6)
    tflite = pretrained.load("ferplus", "int8", directory=folder)
    assert isinstance(tflite, TFLiteModel) and tflite.predict(x).shape == (2, 8)
    assert pretrained.class_names("ferplus", folder) == tuple(names)  # the card's names win


def test_missing_models_say_what_is_bundled_and_how_to_make_one(installed, tmp_path):
    folder, _, _ = installed
    with pytest.raises(UserError) as error:
        pretrained.load("fer2013", "int8", directory=folder)
    message = str(error.value)
    assert "pretrained model 'fer2013' (int8) is not installed" in message
    assert "bundled: ferplus (float), ferplus (int8)" in message
    assert "train --dataset fer2013" in message and "quantize --method qat" in message
    with pytest.raises(UserError, match="bundled: none"):
        pretrained.require("ferplus", directory=tmp_path)
    assert pretrained.card("ferplus", tmp_path) == {}
    assert pretrained.class_names("fer2013", tmp_path) == CLASS_NAMES["fer2013"]  # no card: the data set's order


def test_unknown_names_and_formats_are_user_errors(tmp_path):
    with pytest.raises(UserError, match="unknown pretrained model 'kdef'"):
        pretrained.load("kdef")
    with pytest.raises(UserError, match="unknown model format 'fp16'"):
        pretrained.load("ferplus", "fp16")
    pretrained.card_path("ferplus", tmp_path).write_text("{not json")
    with pytest.raises(UserError, match="cannot read model card"):
        pretrained.card("ferplus", tmp_path)


@pytest.mark.slow
@pytest.mark.shared_data
@pytest.mark.parametrize("name", pretrained.NAMES)
def test_shipped_models_give_the_accuracy_their_card_records(name):
    """The bundled files, on the fixed subset their card names, give the accuracy the card records."""
    if not all(pretrained.model_path(name, fmt).is_file() for fmt in pretrained.FORMATS):
        pytest.skip(f"pretrained {name} models are not bundled in this checkout")
    card = pretrained.card(name)
    check = card.get("check")
    assert check and check.get("limit") and set(check.get("accuracy", {})) == set(pretrained.FORMATS), \
        f"the {name} model card has no check entry (split, limit, accuracy per format)"
    archive = shared_archive(f"{card.get('dataset', name)}.tar.gz")
    measured = pretrained.check_accuracy(name, archive)
    tolerance = 1.0 / check["limit"] + 1e-9  # one image may flip on another CPU
    for fmt in pretrained.FORMATS:
        assert measured[fmt] == pytest.approx(check["accuracy"][fmt], abs=tolerance), fmt
