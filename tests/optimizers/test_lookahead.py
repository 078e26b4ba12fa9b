"""Tests of Lookahead against an independent NumPy re-derivation of Algorithm 1 (Zhang et al. 2019)."""

import keras
import numpy as np
import pytest

from kerasopt.optimizers.lookahead import Lookahead
from kerasopt.registry import build

A = np.array([1.0, 4.0, 0.5])  # f(w) = 0.5 * sum(A * w^2), gradient A * w
W0 = np.array([1.0, -2.0, 3.0])


def numpy_lookahead(steps, lr, momentum, k, alpha):
    """Algorithm 1 with SGD+momentum (Keras form m = mu*m - lr*g; w += m) as inner optimizer."""
    fast, slow, m, history = W0.copy(), W0.copy(), np.zeros(3), []
    for t in range(1, steps + 1):
        m = momentum * m - lr * (A * fast)
        fast = fast + m
        if t % k == 0:
            slow = slow + alpha * (fast - slow)
            fast = slow.copy()
        history.append(fast.copy())
    return np.array(history)


def keras_run(optimizer, steps):
    w = keras.Variable(W0.astype("float32"))
    history = []
    for _ in range(steps):
        optimizer.apply([A.astype("float32") * w.numpy()], [w])
        history.append(w.numpy().copy())
    return np.array(history)


def test_first_steps_by_hand():
    # k=2, alpha=0.5, SGD lr=0.1: step 1 fast = w0 - 0.1*A*w0; step 2 fast2 = fast1 - 0.1*A*fast1,
    # then synchronized to w0 + 0.5*(fast2 - w0).
    fast1 = W0 - 0.1 * A * W0
    fast2 = fast1 - 0.1 * A * fast1
    expected = np.array([fast1, W0 + 0.5 * (fast2 - W0)])
    got = keras_run(Lookahead(keras.optimizers.SGD(0.1), sync_period=2, slow_step_size=0.5), 2)
    np.testing.assert_allclose(got, expected, rtol=1e-6)


def test_twenty_step_trajectory_with_inner_momentum():
    # Golden values: numpy_lookahead above, an independent re-derivation in float64.
    expected = numpy_lookahead(20, lr=0.05, momentum=0.9, k=3, alpha=0.6)
    optimizer = Lookahead(keras.optimizers.SGD(0.05, momentum=0.9), sync_period=3,
                          slow_step_size=0.6)
    np.testing.assert_allclose(keras_run(optimizer, 20), expected, rtol=1e-5, atol=1e-6)
    assert int(optimizer.iterations.numpy()) == 20


def test_slow_weights_start_from_model_weights_set_after_build():
    optimizer = Lookahead(keras.optimizers.SGD(0.1), sync_period=1, slow_step_size=0.5)
    w = keras.Variable(np.zeros(3, "float32"))
    optimizer.build([w])
    w.assign(W0.astype("float32"))
    optimizer.apply([A.astype("float32") * W0.astype("float32")], [w])
    np.testing.assert_allclose(w.numpy(), W0 + 0.5 * (-0.1 * A * W0), rtol=1e-6)


@pytest.mark.parametrize("kwargs, match", [
    ({"sync_period": 0}, "sync_period=0"),
    ({"sync_period": 2.0}, "sync_period=2.0"),
    ({"slow_step_size": 0.0}, "slow_step_size=0.0"),
    ({"slow_step_size": 1.5}, "slow_step_size=1.5"),
])
def test_validation(kwargs, match):
    with pytest.raises(ValueError, match=match):
        Lookahead("sgd", **kwargs)


def test_bad_inner_optimizer():
    with pytest.raises(ValueError, match="keras.optimizers.Optimizer.*builtins.int"):
        Lookahead(3)


def test_inner_given_by_name_spec_and_config():
    assert isinstance(Lookahead("adam").inner_optimizer, keras.optimizers.Adam)
    spec = Lookahead({"type": "sgd", "learning_rate": 0.3}).inner_optimizer
    assert isinstance(spec, keras.optimizers.SGD) and spec.get_config()["learning_rate"] == pytest.approx(0.3)
    config = keras.saving.serialize_keras_object(keras.optimizers.Lamb(0.02))
    inner = Lookahead(config).inner_optimizer
    assert isinstance(inner, keras.optimizers.Lamb)  # Keras's own lookup table misses Lamb


def test_learning_rate_is_the_inner_one():
    optimizer = Lookahead(keras.optimizers.Adam(0.01))
    optimizer.learning_rate = 0.25
    assert float(optimizer.inner_optimizer.learning_rate.numpy()) == pytest.approx(0.25)
    assert float(optimizer.learning_rate.numpy()) == pytest.approx(0.25)


def test_config_round_trip_and_registry():
    optimizer = Lookahead(keras.optimizers.Adam(0.003), sync_period=4, slow_step_size=0.7,
                          name="la")
    config = optimizer.get_config()
    assert {k: config[k] for k in ("sync_period", "slow_step_size", "name")} == {
        "sync_period": 4, "slow_step_size": 0.7, "name": "la"}
    again = Lookahead.from_config(config)
    assert again.get_config() == config
    built = build("optimizer", {"type": "Lookahead", "optimizer": {"type": "adam"},
                                "sync_period": 3})
    assert isinstance(built, Lookahead) and built.sync_period == 3


def _model():
    keras.utils.set_random_seed(1)
    model = keras.Sequential([keras.Input((3,)), keras.layers.Dense(4, activation="tanh"),
                              keras.layers.Dense(1)])
    model.compile(optimizer=Lookahead(keras.optimizers.Adam(0.05), sync_period=5), loss="mse")
    return model


# Keras 3.15's `model.save` converts a TF variable with np.array(copy=False); NumPy 2 warns
# about the variable's __array__ signature (any model, Keras's Adam included).
@pytest.mark.filterwarnings("ignore:__array__ implementation doesn't accept a copy keyword")
def test_fit_and_keras_file_round_trip_resumes_exactly(tmp_path):
    rng = np.random.default_rng(0)
    x = rng.normal(size=(32, 3)).astype("float32")
    y = (x @ np.array([[1.0], [-2.0], [0.5]])).astype("float32")
    model = _model()
    first = model.fit(x, y, batch_size=8, epochs=3, verbose=0).history["loss"]
    assert first[-1] < first[0]
    path = str(tmp_path / "m.keras")
    model.save(path)
    loaded = keras.saving.load_model(path, safe_mode=True)
    assert isinstance(loaded.optimizer, Lookahead) and loaded.optimizer.sync_period == 5
    for a, b in zip(model.optimizer.variables, loaded.optimizer.variables, strict=True):
        np.testing.assert_array_equal(a.numpy(), b.numpy())
    # 12 steps done, 12 % 5 != 0: slow weights differ from fast ones and must be restored.
    model.fit(x, y, batch_size=8, epochs=1, verbose=0, shuffle=False)
    loaded.fit(x, y, batch_size=8, epochs=1, verbose=0, shuffle=False)
    for a, b in zip(model.get_weights(), loaded.get_weights(), strict=True):
        np.testing.assert_allclose(a, b, rtol=1e-6)
