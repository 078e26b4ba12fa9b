"""Tests of the `application` architecture (keras.applications backbones, never downloaded)."""

from pathlib import Path

import keras
import numpy as np
import pytest
import yaml

from kerasopt.models.build import build_model
from kerasopt.models.errors import ModelError
from kerasopt.models.transfer import set_trainable

# Keras 3.15 saving calls np.array() on TF variables, which NumPy 2 flags (harmless).
pytestmark = pytest.mark.filterwarnings(
    "ignore:__array__ implementation doesn't accept a copy keyword:DeprecationWarning")


def test_application_with_random_weights_trains_on_a_tiny_input():
    spec = {"architecture": "application", "name": "MobileNetV3Small", "weights": None, "dropout": 0.2}
    model = build_model(spec, input_shape=(32, 32, 3), num_classes=4)
    assert model.output_shape == (None, 4)
    backbone = model.layers[1]
    assert isinstance(backbone, keras.Model) and backbone.output_shape == (None, 576)
    assert model.get_layer("features_dropout").rate == 0.2
    assert model.get_layer("head").activation is keras.activations.softmax
    set_trainable(model, freeze=[backbone.name])  # transfer learning: train the head only
    assert [w.path for w in model.trainable_weights] == ["head/kernel", "head/bias"]
    x = np.random.default_rng(0).uniform(0, 255, size=(2, 32, 32, 3)).astype("float32")
    model.compile(keras.optimizers.SGD(0.01), "sparse_categorical_crossentropy")
    frozen = [w.numpy().copy() for w in backbone.weights]
    before = model.get_layer("head").bias.numpy().copy()
    assert np.isfinite(model.train_on_batch(x, np.array([0, 3])))
    # A random MobileNetV3Small in inference mode (frozen) gives features near 0, so the bias moves.
    assert not np.allclose(before, model.get_layer("head").bias.numpy())
    for w, old in zip(backbone.weights, frozen, strict=True):
        np.testing.assert_array_equal(w.numpy(), old)


def test_application_loads_a_local_weights_file(tmp_path):
    source = keras.applications.MobileNetV3Small(include_top=False, weights=None, input_shape=(32, 32, 3),
                                                 pooling="avg")
    path = tmp_path / "notop.weights.h5"
    source.save_weights(path)
    source.save(tmp_path / "notop.keras")  # a whole saved backbone: only its weights are read
    x = np.random.default_rng(0).uniform(0, 255, size=(2, 32, 32, 3)).astype("float32")
    for file in (path, tmp_path / "notop.keras"):
        spec = {"architecture": "application", "name": "MobileNetV3Small", "weights": str(file),
                "include_top": False}
        model = build_model(spec, input_shape=(32, 32, 3), num_classes=2)
        for loaded, original in zip(model.layers[1].get_weights(), source.get_weights(), strict=True):
            np.testing.assert_array_equal(loaded, original)
        np.testing.assert_allclose(model.layers[1](x), source(x), rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize("extra,input_shape,match", [
    ({"weights": "imagenet"}, (32, 32, 3), "never downloads.*model.weights.*null"),
    ({"weights": "/nowhere/w.weights.h5"}, (32, 32, 3), "file does not exist"),
    ({"weights": "w.npz"}, (32, 32, 3), ".h5/.weights.h5/.keras"),
    ({"name": "MobileNetV9"}, (32, 32, 3), "model.name.*MobileNetV2.*Received: name='MobileNetV9'"),
    ({"include_top": True}, (32, 32, 3), "include_top"),
    ({}, (40, 1), "needs image inputs"),
    ({}, (16, 16, 3), "cannot be built for input_shape=\\(16, 16, 3\\)"),
])
def test_bad_application_specs_raise_model_error(extra, input_shape, match):
    spec = {"architecture": "application", "name": "MobileNetV2", "weights": None, **extra}
    with pytest.raises(ModelError, match=match):
        build_model(spec, input_shape=input_shape, num_classes=2)


def test_application_needs_a_name():
    with pytest.raises(ModelError, match="`model.name` is required"):
        build_model({"architecture": "application"}, input_shape=(32, 32, 3), num_classes=2)


def test_a_recipe_loads_a_saved_backbone_and_its_outputs_are_the_saved_ones(tmp_path):
    from kerasopt.recipe.check.loader import load_recipe
    from kerasopt.recipe.run import session
    from tests.tiny_recipe import write_tiny_recipe

    source = keras.applications.MobileNetV3Small(include_top=False, weights=None, input_shape=(32, 32, 3),
                                                 pooling="avg")
    source.save(tmp_path / "backbone.keras")
    path = write_tiny_recipe(tmp_path, data={"input_shape": [32, 32, 3], "samples": 48, "normalization": "none"})
    text = yaml.safe_load(Path(path).read_text())
    text["model"] = {"architecture": "application", "name": "MobileNetV3Small",
                     "weights": str(tmp_path / "backbone.keras")}
    Path(path).write_text(yaml.safe_dump(text))
    recipe = load_recipe(path).recipe
    data = session.build_data(recipe)
    model = session.build_model(recipe, data)
    backbone = next(layer for layer in model.layers if isinstance(layer, keras.Model))
    x = data.x_test[:4]
    np.testing.assert_allclose(backbone(x), source(x), rtol=1e-5, atol=1e-6)
