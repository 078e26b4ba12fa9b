"""Tests of GradientCentralization (Yong et al. 2020, eq. (4)) against NumPy."""

import keras
import numpy as np
import pytest

from kerasopt.optimizers.gradient_centralization import GradientCentralization, centralize


def test_centralize_matches_numpy_for_each_rank():
    rng = np.random.default_rng(0)
    dense = rng.normal(size=(5, 3)).astype("float32")
    conv = rng.normal(size=(3, 3, 2, 4)).astype("float32")
    bias = rng.normal(size=(4,)).astype("float32")
    np.testing.assert_allclose(centralize(keras.ops.convert_to_tensor(dense)),
                               dense - dense.mean(axis=0), rtol=1e-5, atol=1e-6)
    expected = conv - conv.reshape(-1, 4).mean(axis=0)  # mean over each output's fan-in
    np.testing.assert_allclose(centralize(keras.ops.convert_to_tensor(conv)), expected,
                               rtol=1e-5, atol=1e-6)
    np.testing.assert_array_equal(centralize(keras.ops.convert_to_tensor(bias)), bias)
    assert centralize(None) is None


def test_sgd_step_uses_centralized_gradient_for_kernels_only():
    rng = np.random.default_rng(1)
    kernel = rng.normal(size=(4, 2)).astype("float32")
    bias = rng.normal(size=(2,)).astype("float32")
    g_kernel = rng.normal(size=(4, 2)).astype("float32")
    g_bias = rng.normal(size=(2,)).astype("float32")
    variables = [keras.Variable(kernel), keras.Variable(bias)]
    optimizer = GradientCentralization(keras.optimizers.SGD(0.5))
    optimizer.apply([g_kernel, g_bias], variables)
    np.testing.assert_allclose(variables[0].numpy(),
                               kernel - 0.5 * (g_kernel - g_kernel.mean(axis=0)), rtol=1e-6)
    np.testing.assert_allclose(variables[1].numpy(), bias - 0.5 * g_bias, rtol=1e-6)
    # The centralized update keeps each output column's mean of the kernel unchanged.
    np.testing.assert_allclose(variables[0].numpy().mean(axis=0), kernel.mean(axis=0), atol=1e-6)


def test_twenty_adam_steps_match_numpy():
    # Golden values: Adam (Keras form, epsilon outside the sqrt) re-derived in NumPy on
    # centralized gradients of f(W) = 0.5 * ||W - T||^2.
    rng = np.random.default_rng(2)
    target = rng.normal(size=(3, 2))
    w_np = rng.normal(size=(3, 2))
    w = keras.Variable(w_np.astype("float32"))
    optimizer = GradientCentralization(keras.optimizers.Adam(0.1))
    m = v = np.zeros_like(w_np)
    for t in range(1, 21):
        g = w_np - target
        g = g - g.mean(axis=0)
        m = 0.9 * m + 0.1 * g
        v = 0.999 * v + 0.001 * g * g
        alpha = 0.1 * np.sqrt(1 - 0.999**t) / (1 - 0.9**t)
        w_np = w_np - alpha * m / (np.sqrt(v) + 1e-7)
        optimizer.apply([(w.numpy() - target).astype("float32")], [w])
    np.testing.assert_allclose(w.numpy(), w_np, rtol=1e-4, atol=1e-5)


def test_config_round_trip_and_bad_optimizer():
    optimizer = GradientCentralization(keras.optimizers.SGD(0.3), name="gc")
    config = optimizer.get_config()
    assert config["name"] == "gc"
    assert GradientCentralization.from_config(config).get_config() == config
    with pytest.raises(ValueError, match="optimizer=None"):
        GradientCentralization(None)


# Keras 3.15's `model.save` converts a TF variable with np.array(copy=False); NumPy 2 warns
# about the variable's __array__ signature (any model, Keras's Adam included).
@pytest.mark.filterwarnings("ignore:__array__ implementation doesn't accept a copy keyword")
def test_fit_conv_model_and_keras_file(tmp_path):
    rng = np.random.default_rng(0)
    x = rng.normal(size=(16, 6, 6, 1)).astype("float32")
    y = (x.mean(axis=(1, 2, 3)) > 0).astype("int32")
    keras.utils.set_random_seed(0)
    model = keras.Sequential([keras.Input((6, 6, 1)), keras.layers.Conv2D(4, 3),
                              keras.layers.GlobalAveragePooling2D(), keras.layers.Dense(2)])
    model.compile(optimizer=GradientCentralization(keras.optimizers.Adam(0.05)),
                  loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True))
    losses = model.fit(x, y, batch_size=8, epochs=4, verbose=0).history["loss"]
    assert losses[-1] < losses[0]
    model.save(str(tmp_path / "gc.keras"))
    loaded = keras.saving.load_model(str(tmp_path / "gc.keras"), safe_mode=True)
    assert isinstance(loaded.optimizer, GradientCentralization)
    assert isinstance(loaded.optimizer.inner_optimizer, keras.optimizers.Adam)
