"""Tests of SAM (Foret et al. 2021, Algorithm 1) and ASAM (Kwon et al. 2021) against NumPy."""

import keras
import numpy as np
import pytest

from kerasopt.optimizers.sam import SAM
from kerasopt.training.closure import enable_closure

RNG = np.random.default_rng(0)
X = RNG.normal(size=(8, 3))
Y = X @ np.array([[1.0], [-1.0], [2.0]]) + 0.1 * RNG.normal(size=(8, 1))
W0 = np.array([[0.5], [0.3], [-0.2]])


def mse_grad(w):
    return 2.0 / len(X) * X.T @ (X @ w - Y)


def numpy_sam(steps, lr, rho, adaptive, eps=1e-12):
    """Algorithm 1 with plain SGD: ascend to w + e, descend with the gradient there."""
    w = W0.copy()
    for _ in range(steps):
        g = mse_grad(w)
        t = np.abs(w) if adaptive else 1.0
        e = rho * (t * t) * g / (np.linalg.norm(t * g) + eps)
        w = w - lr * mse_grad(w + e)
    return w


class QuarticClosure:
    """f(w) = sum(w^4) / 4 over two variables; gradients w^3, from the current values."""

    def __init__(self, variables):
        self.variables = variables
        self.calls = []

    def __call__(self):
        values = [v.numpy().astype(np.float64) for v in self.variables]
        self.calls.append(values)
        return 0.0, [(u**3).astype("float32") for u in values]


@pytest.mark.parametrize("adaptive", [False, True])
def test_first_step_by_hand(adaptive):
    a, b = np.array([1.0, -2.0]), np.array([[0.5, 1.5]])
    variables = [keras.Variable(a.astype("float32")), keras.Variable(b.astype("float32"))]
    closure = QuarticClosure(variables)
    SAM(keras.optimizers.SGD(0.1), rho=0.2, adaptive=adaptive).apply_with_closure(
        closure, variables)
    ga, gb = a**3, b**3
    ta, tb = (np.abs(a), np.abs(b)) if adaptive else (1.0, 1.0)
    norm = np.sqrt(np.sum((ta * ga) ** 2) + np.sum((tb * gb) ** 2))
    ea, eb = 0.2 * ta**2 * ga / norm, 0.2 * tb**2 * gb / norm
    np.testing.assert_allclose(closure.calls[1][0], a + ea, rtol=1e-6)  # ascent point
    np.testing.assert_allclose(closure.calls[1][1], b + eb, rtol=1e-6)
    np.testing.assert_allclose(variables[0].numpy(), a - 0.1 * (a + ea) ** 3, rtol=1e-5)
    np.testing.assert_allclose(variables[1].numpy(), b - 0.1 * (b + eb) ** 3, rtol=1e-5)


@pytest.mark.parametrize("adaptive, rho", [(False, 0.05), (True, 0.5)])
def test_twenty_fit_steps_match_numpy(adaptive, rho):
    # Golden values: numpy_sam above (float64), full-batch fit so every step sees the same batch.
    model = keras.Sequential([keras.Input((3,)), keras.layers.Dense(1, use_bias=False)])
    model.set_weights([W0.astype("float32")])
    model.compile(optimizer=SAM(keras.optimizers.SGD(0.05), rho=rho, adaptive=adaptive),
                  loss="mse")
    enable_closure(model)
    model.fit(X.astype("float32"), Y.astype("float32"), batch_size=8, epochs=20, verbose=0,
              shuffle=False)
    np.testing.assert_allclose(model.get_weights()[0], numpy_sam(20, 0.05, rho, adaptive),
                               rtol=1e-4, atol=1e-6)
    assert int(model.optimizer.iterations.numpy()) == 20


def test_without_enable_closure_first_step_says_what_to_do():
    model = keras.Sequential([keras.Input((3,)), keras.layers.Dense(1)])
    model.compile(optimizer=SAM("sgd"), loss="mse")
    with pytest.raises(ValueError, match=r"enable_closure\(model\) before fit"):
        model.fit(X.astype("float32"), Y.astype("float32"), epochs=1, verbose=0)


@pytest.mark.parametrize("kwargs, match", [
    ({"rho": 0.0}, "rho=0.0"),
    ({"rho": "big"}, "rho='big'"),
    ({"adaptive": 1}, "adaptive=1"),
    ({"eps": -1.0}, "eps=-1.0"),
])
def test_validation(kwargs, match):
    with pytest.raises(ValueError, match=match):
        SAM("sgd", **kwargs)


def test_inner_optimizer_needing_a_closure_is_rejected():
    with pytest.raises(ValueError, match="inner optimizer must take plain gradients"):
        SAM(SAM("sgd"))


def test_config_round_trip():
    optimizer = SAM(keras.optimizers.Adam(0.01), rho=0.1, adaptive=True, eps=1e-8, name="sam")
    config = optimizer.get_config()
    assert {k: config[k] for k in ("rho", "adaptive", "eps", "name")} == {
        "rho": 0.1, "adaptive": True, "eps": 1e-8, "name": "sam"}
    assert SAM.from_config(config).get_config() == config


# Keras 3.15's `model.save` converts a TF variable with np.array(copy=False); NumPy 2 warns
# about the variable's __array__ signature (any model, Keras's Adam included).
@pytest.mark.filterwarnings("ignore:__array__ implementation doesn't accept a copy keyword")
def test_fit_with_metrics_and_keras_file(tmp_path):
    keras.utils.set_random_seed(0)
    model = keras.Sequential([keras.Input((3,)), keras.layers.Dense(8, activation="relu"),
                              keras.layers.Dense(1)])
    model.compile(optimizer=SAM(keras.optimizers.Adam(0.02), rho=0.05), loss="mse",
                  metrics=["mae"])
    history = enable_closure(model).fit(X.astype("float32"), Y.astype("float32"),
                                        batch_size=4, epochs=5, verbose=0).history
    assert history["loss"][-1] < history["loss"][0] and "mae" in history
    model.save(str(tmp_path / "sam.keras"))
    loaded = keras.saving.load_model(str(tmp_path / "sam.keras"), safe_mode=True)
    assert isinstance(loaded.optimizer, SAM) and loaded.optimizer.rho == 0.05
    for a, b in zip(model.optimizer.variables, loaded.optimizer.variables, strict=True):
        np.testing.assert_array_equal(a.numpy(), b.numpy())
    enable_closure(loaded).fit(X.astype("float32"), Y.astype("float32"), epochs=1, verbose=0)
