"""LSUV: unit output variance per layer, orthonormal pre-init, models of both kinds."""

from __future__ import annotations

import keras
import numpy as np
import pytest
from keras import ops

from kerasopt.initializers.lsuv import LSUV, lsuv_initialize


def _pre_activation_variances(model, x):
    out = []
    for layer in model.layers:
        if hasattr(layer, "kernel"):
            inputs = model.inputs[0] if len(model.inputs) == 1 else model.inputs
            probe = keras.Model(inputs, layer.output)
            act, layer.activation = layer.activation, keras.activations.linear
            out.append(float(np.var(np.asarray(probe(x)))))
            layer.activation = act
    return out


def _x(shape, seed=0):
    return np.random.default_rng(seed).normal(size=shape).astype("float32") * 3.0 + 1.0


def test_sequential_dense_layers_get_unit_variance():
    model = keras.Sequential([keras.Input((20,))] + [
        keras.layers.Dense(16, activation="relu",
                           kernel_initializer=keras.initializers.RandomNormal(stddev=0.01))
        for _ in range(6)] + [keras.layers.Dense(3)])
    x = _x((256, 20))
    assert max(abs(v - 1) for v in _pre_activation_variances(model, x)) > 0.9  # before
    assert lsuv_initialize(model, x, tol_var=0.05, seed=0) is model
    variances = _pre_activation_variances(model, x)
    assert len(variances) == 7
    np.testing.assert_allclose(variances, 1.0, atol=0.05)


def test_functional_conv_model():
    inp = keras.Input((12, 12, 3))
    h = keras.layers.Conv2D(8, 3, activation="relu")(inp)
    h = keras.layers.Conv2D(16, 3, padding="same", activation="relu")(h)
    h = keras.layers.Reshape((10 * 10, 16))(h)
    h = keras.layers.Conv1D(4, 5, activation="tanh")(h)
    out = keras.layers.Dense(2)(keras.layers.Flatten()(h))
    model = keras.Model(inp, out)
    x = _x((32, 12, 12, 3))
    lsuv_initialize(model, x, tol_var=0.1)
    np.testing.assert_allclose(_pre_activation_variances(model, x), 1.0, atol=0.1)


def test_kernels_are_orthonormal_before_scaling():
    # Inputs sqrt(8) e_i give outputs sqrt(8) W[i]: with W^T W = I (4 unit columns) the
    # output variance is 1 - mean^2 >= 0.75, inside tol_var = 0.5, so step 2 leaves the
    # step-1 orthonormal kernel as it is.
    model = keras.Sequential([keras.Input((8, 8)), keras.layers.Conv1D(4, 1, use_bias=False)])
    lsuv_initialize(model, np.sqrt(8.0) * np.eye(8, dtype="float32")[None], tol_var=0.5,
                    max_iter=1, seed=0)
    w = np.asarray(model.layers[0].kernel).reshape(8, 4)
    np.testing.assert_allclose(w.T @ w, np.eye(4), atol=1e-5)
    # A wide kernel (c_out > rows) gets orthonormal rows instead.
    init = np.asarray(LSUV(seed=1)((1, 3, 5), "float64")).reshape(3, 5)
    np.testing.assert_allclose(init @ init.T, np.eye(3), atol=1e-10)


def test_errors_and_marker_config():
    model = keras.Sequential([keras.Input((4,)), keras.layers.Dense(2)])
    with pytest.raises(ValueError, match="`tol_var` must be a number in \\(0, 1\\). Received: tol_var=0"):
        lsuv_initialize(model, np.ones((4, 4)), tol_var=0)
    with pytest.raises(ValueError, match="`max_iter` must be an integer >= 1. Received: max_iter=0"):
        LSUV(max_iter=0)
    with pytest.raises(TypeError, match="builtins.dict"):
        lsuv_initialize({}, np.ones((4, 4)))
    with pytest.raises(ValueError, match="no Dense or Conv layer"):
        lsuv_initialize(keras.Sequential([keras.Input((4,)), keras.layers.ReLU()]), np.ones((2, 4)))
    marker = LSUV(tol_var=0.05, max_iter=5, seed=2)
    assert marker.get_config() == {"tol_var": 0.05, "max_iter": 5, "seed": 2}
    restored = keras.initializers.deserialize(keras.initializers.serialize(marker))
    assert isinstance(restored, LSUV) and restored.get_config() == marker.get_config()
    assert ops.shape(marker((3, 3, 2, 4))) == (3, 3, 2, 4)
