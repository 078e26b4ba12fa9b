"""Tests of the `file` architecture, set_trainable and replace_head (transfer learning)."""

import keras
import numpy as np
import pytest

from kerasopt.models.build import build_model
from kerasopt.models.errors import ModelError
from kerasopt.models.transfer import replace_head, set_trainable

# Keras 3.15 saving calls np.array() on TF variables, which NumPy 2 flags (harmless).
pytestmark = pytest.mark.filterwarnings(
    "ignore:__array__ implementation doesn't accept a copy keyword:DeprecationWarning")


@pytest.fixture(scope="module")
def saved(tmp_path_factory):
    model = build_model({"architecture": "mlp", "units": [16, 8]}, input_shape=(12,), num_classes=5, seed=2)
    path = tmp_path_factory.mktemp("file_model") / "base.keras"
    model.save(path)
    return path, model


def test_file_model_freeze_then_unfreeze_patterns(saved):
    path, base = saved
    spec = {"architecture": "file", "path": str(path), "freeze": ["dense_*"], "unfreeze": ["dense_2"]}
    model = build_model(spec, input_shape=(12,), num_classes=5)
    flags = {layer.name: layer.trainable for layer in model.layers}
    assert flags["dense_1"] is False and flags["dense_1_act"] is False
    assert flags["dense_2"] is True and flags["head"] is True
    assert len(model.trainable_weights) == 4  # dense_2 and head kernels and biases
    for loaded, original in zip(model.get_weights(), base.get_weights(), strict=True):
        np.testing.assert_array_equal(loaded, original)


def test_file_model_replace_head_keeps_the_body(saved):
    path, base = saved
    spec = {"architecture": "file", "path": str(path), "replace_head": True, "freeze": ["dense_*"]}
    model = build_model(spec, input_shape=(12,), num_classes=3)
    assert model.output_shape == (None, 3)
    head = model.layers[-1]
    assert head.name == "head" and head.units == 3 and head.activation is keras.activations.softmax
    np.testing.assert_array_equal(model.get_layer("dense_1").kernel.numpy(), base.get_layer("dense_1").kernel.numpy())
    x = np.random.default_rng(0).normal(size=(4, 12)).astype("float32")
    model.compile(keras.optimizers.SGD(0.1), "sparse_categorical_crossentropy")
    frozen = model.get_layer("dense_1").kernel.numpy().copy()
    model.train_on_batch(x, np.array([0, 1, 2, 0]))
    np.testing.assert_array_equal(model.get_layer("dense_1").kernel.numpy(), frozen)


def test_replace_head_is_a_no_op_when_the_class_count_matches(saved):
    path, base = saved
    model = build_model({"architecture": "file", "path": str(path), "replace_head": True},
                        input_shape=(12,), num_classes=5)
    np.testing.assert_array_equal(model.get_layer("head").kernel.numpy(), base.get_layer("head").kernel.numpy())


def test_file_model_with_normalizer_is_wrapped(saved):
    path, base = saved
    normalizer = keras.layers.Normalization(mean=1.0, variance=4.0)
    model = build_model({"architecture": "file", "path": str(path)}, input_shape=(12,), num_classes=5,
                        normalizer=normalizer)
    assert model.layers[1] is normalizer
    x = np.random.default_rng(1).normal(size=(3, 12)).astype("float32")
    np.testing.assert_allclose(model.predict(x, verbose=0), base.predict((x - 1.0) / 2.0, verbose=0), atol=1e-6)


@pytest.mark.parametrize("extra,num_classes,match", [
    ({}, 3, r"5 outputs but the data needs 3 \(one per class.*set `model.replace_head: true`"),
    ({"freeze": ["conv_*"]}, 5, "pattern 'conv_\\*' matches no layer"),
    ({"path": "missing.keras"}, 5, "file does not exist.*missing.keras"),
    ({"path": "model.h5"}, 5, "must be a .keras file"),
    ({"activation": "tanh"}, 5, "has no effect with architecture 'file'"),
])
def test_bad_file_specs_raise_model_error(saved, extra, num_classes, match):
    spec = {"architecture": "file", "path": str(saved[0]), **extra}
    with pytest.raises(ModelError, match=match):
        build_model(spec, input_shape=(12,), num_classes=num_classes)


def test_file_model_input_shape_mismatch(saved):
    with pytest.raises(ModelError, match="inputs of shape \\(12,\\).*input_shape=\\(7,\\)"):
        build_model({"architecture": "file", "path": str(saved[0])}, input_shape=(7,), num_classes=5)


def test_set_trainable_reaches_nested_models_in_plain_keras():
    inner = keras.Sequential([keras.Input((4,)), keras.layers.Dense(4, name="inner_a"),
                              keras.layers.Dense(4, name="inner_b")], name="backbone")
    inputs = keras.Input((4,))
    model = keras.Model(inputs, keras.layers.Dense(2, name="out")(inner(inputs)))
    set_trainable(model, freeze=["backbone"], unfreeze=["inner_b"])
    assert inner.get_layer("inner_a").trainable is False
    assert inner.get_layer("inner_b").trainable is True
    assert model.get_layer("out").trainable is True
    assert len(model.trainable_weights) == 4
    set_trainable(model, unfreeze=["*"])
    assert len(model.trainable_weights) == 6


def test_replace_head_keeps_a_weightless_tail():
    model = keras.Sequential([keras.Input((3,)), keras.layers.Dense(4, name="body"),
                              keras.layers.Dense(6, name="logits"), keras.layers.Activation("softmax", name="probs")])
    new = replace_head(model, 2)
    assert new.output_shape == (None, 2)
    assert [layer.name for layer in new.layers][-2:] == ["head", "probs"]
    probs = new.predict(np.ones((2, 3), dtype="float32"), verbose=0)
    np.testing.assert_allclose(probs.sum(axis=1), 1.0, atol=1e-6)


def test_replace_head_needs_a_dense_output():
    inputs = keras.Input((6, 1))
    model = keras.Model(inputs, keras.layers.Conv1D(2, 3, name="conv")(inputs))
    with pytest.raises(ModelError, match="ends with Conv1D 'conv'"):
        replace_head(model, 3)
