"""Tests of the `layers` architecture (a user's layer list, no head added)."""

import keras
import numpy as np
import pytest

from kerasopt.models.build import build_model
from kerasopt.models.errors import ModelError

# Keras 3.15 saving calls np.array() on TF variables, which NumPy 2 flags (harmless).
pytestmark = pytest.mark.filterwarnings(
    "ignore:__array__ implementation doesn't accept a copy keyword:DeprecationWarning")


def test_layer_list_builds_exactly_the_listed_layers(tmp_path):
    spec = {"architecture": "layers", "layers": [
        {"type": "Conv1D", "filters": 4, "kernel_size": 3, "activation": "relu",
         "kernel_initializer": {"type": "he_normal", "seed": 1}},
        "flatten",
        {"type": "dropout", "rate": 0.1},
        {"type": "dense", "units": 3, "activation": "softmax", "kernel_regularizer": {"type": "l2", "l2": 0.1}},
    ]}
    model = build_model(spec, input_shape=(10, 2), num_classes=3)
    assert [type(layer).__name__ for layer in model.layers] == ["InputLayer", "Conv1D", "Flatten", "Dropout", "Dense"]
    conv = 4 * (3 * 2) + 4
    dense = (8 * 4) * 3 + 3  # "valid" padding: 10 - 3 + 1 = 8 steps
    assert model.count_params() == conv + dense
    assert isinstance(model.layers[1].kernel_initializer, keras.initializers.HeNormal)
    assert len(model.losses) == 1
    x = np.random.default_rng(0).normal(size=(5, 10, 2)).astype("float32")
    model.compile("sgd", "sparse_categorical_crossentropy")
    assert np.isfinite(model.train_on_batch(x, np.array([0, 1, 2, 0, 1])))
    path = tmp_path / "layers.keras"
    model.save(path)
    loaded = keras.saving.load_model(path, safe_mode=True)
    np.testing.assert_allclose(loaded.predict(x, verbose=0), model.predict(x, verbose=0), atol=1e-6)


def test_layer_list_takes_the_normalizer_first():
    normalizer = keras.layers.Normalization(mean=2.0, variance=4.0)
    spec = {"architecture": "layers", "layers": [{"type": "dense", "units": 1, "kernel_initializer": "ones",
                                                  "bias_initializer": "zeros"}]}
    model = build_model(spec, input_shape=(3,), num_classes=None, normalizer=normalizer)
    assert model.layers[1] is normalizer
    x = np.array([[2.0, 4.0, 6.0]], dtype="float32")
    np.testing.assert_allclose(model.predict(x, verbose=0), [[(0 + 2 + 4) / 2]], atol=1e-6)


@pytest.mark.parametrize("layers,match", [
    ([{"type": "dense", "units": 2}, {"type": "Dence", "units": 2}], "model.layers\\[1\\].type.*Dence"),
    ([{"type": "dense", "unitz": 2}], "model.layers\\[0\\]` could not be built"),
    ([{"type": "conv2d", "filters": 2, "kernel_size": 3}], "model.layers\\[0\\]` \\(Conv2D\\) does not accept"),
    ([{"units": 2}], "model.layers\\[0\\]` must be a layer name or a dict with a `type` key"),
    ([], "non-empty list"),
    ([{"type": "dense", "units": 4}], "must end with a layer of 2 units"),
])
def test_bad_layer_lists_raise_model_error(layers, match):
    with pytest.raises(ModelError, match=match):
        build_model({"architecture": "layers", "layers": layers}, input_shape=(6,), num_classes=2)
