"""Tests of AdaHessian (Yao et al. 2020, Algorithm 1) on problems where Hutchinson is exact.

For a diagonal Hessian H, z * (H z) = diag(H) for every Rademacher z (z_i^2 = 1), so the
updates are deterministic and can be re-derived in NumPy.
"""

import keras
import numpy as np
import pytest

from kerasopt.optimizers.ada_hessian import AdaHessian
from kerasopt.training.closure import enable_closure

A = np.array([2.0, 0.5, 8.0])  # f(w) = 0.5 * sum(A * w^2): g = A w, H = diag(A)
W0 = np.array([1.0, -3.0, 0.25])


class DiagonalQuadraticClosure:
    def __init__(self, variable):
        self.variable = variable
        self.probes = []

    def hessian_vector_product(self, vectors):
        self.probes.append(keras.ops.convert_to_numpy(vectors[0]))
        w = self.variable.numpy().astype(np.float64)
        hz = A * self.probes[-1]
        return 0.5 * np.sum(A * w * w), [(A * w).astype("float32")], [hz.astype("float32")]


def numpy_adahessian(steps, lr, b1=0.9, b2=0.999, eps=1e-4, k=1.0, wd=0.0):
    """Eqs. (9)-(10) with D = diag(H) = A, decoupled weight decay applied first."""
    w, m, v, out = W0.copy(), np.zeros(3), np.zeros(3), []
    for t in range(1, steps + 1):
        g = A * w
        w = w - lr * wd * w
        m = b1 * m + (1 - b1) * g
        v = b2 * v + (1 - b2) * A * A
        w = w - lr * (m / (1 - b1**t)) / (np.sqrt(v / (1 - b2**t)) ** k + eps)
        out.append(w.copy())
    return np.array(out)


def run(optimizer, steps):
    w = keras.Variable(W0.astype("float32"))
    closure, out = DiagonalQuadraticClosure(w), []
    for _ in range(steps):
        optimizer.apply_with_closure(closure, [w])
        out.append(w.numpy().copy())
    return np.array(out), closure


def test_first_step_by_hand():
    # t=1: m_hat = g, sqrt(v_hat) = |D| = A, so w1 = w0 - lr * A w0 / (A + eps).
    out, closure = run(AdaHessian(learning_rate=0.1, seed=3), 1)
    np.testing.assert_allclose(out[0], W0 - 0.1 * A * W0 / (A + 1e-4), rtol=1e-6)
    assert set(np.unique(closure.probes[0])) <= {-1.0, 1.0}


@pytest.mark.parametrize("k, wd", [(1.0, 0.0), (0.5, 0.01)])
def test_twenty_step_trajectory(k, wd):
    # Golden values: numpy_adahessian above, the paper's equations in float64.
    optimizer = AdaHessian(learning_rate=0.05, hessian_power=k, weight_decay=wd or None, seed=1)
    out, closure = run(optimizer, 20)
    np.testing.assert_allclose(out, numpy_adahessian(20, 0.05, k=k, wd=wd), rtol=1e-4, atol=1e-6)
    assert not all(np.array_equal(closure.probes[0], p) for p in closure.probes[1:])


def test_rademacher_draws_repeat_with_the_seed():
    _, first = run(AdaHessian(seed=7), 3)
    _, second = run(AdaHessian(seed=7), 3)
    np.testing.assert_array_equal(np.array(first.probes), np.array(second.probes))


def test_spatial_averaging_of_conv_kernels():
    rng = np.random.default_rng(0)
    probe = rng.choice([-1.0, 1.0], size=(3, 3, 2, 4)).astype("float32")
    hvp = rng.normal(size=(3, 3, 2, 4)).astype("float32")
    diagonal = np.abs(probe * hvp)
    expected = np.broadcast_to(diagonal.mean(axis=(0, 1), keepdims=True), diagonal.shape)
    np.testing.assert_allclose(AdaHessian().hessian_diagonal(probe, hvp), expected, rtol=1e-6)
    np.testing.assert_allclose(AdaHessian(spatial_averaging=False).hessian_diagonal(probe, hvp),
                               diagonal, rtol=1e-6)
    dense_probe, dense_hvp = probe[0, 0], hvp[0, 0]
    np.testing.assert_allclose(AdaHessian().hessian_diagonal(dense_probe, dense_hvp),
                               np.abs(dense_probe * dense_hvp), rtol=1e-6)


def test_fit_on_exact_hessian_matches_numpy():
    # Orthogonal columns make the MSE Hessian 2/n X^T X diagonal: Hutchinson is exact.
    q, _ = np.linalg.qr(np.random.default_rng(0).normal(size=(16, 3)))
    x = (q * np.sqrt(16) * np.sqrt(A / 2.0)).astype("float32")  # 2/n X^T X = diag(A)
    y = np.zeros((16, 1), "float32")
    model = keras.Sequential([keras.Input((3,)), keras.layers.Dense(1, use_bias=False)])
    model.set_weights([W0.reshape(3, 1).astype("float32")])
    model.compile(optimizer=AdaHessian(learning_rate=0.05, seed=0), loss="mse")
    enable_closure(model).fit(x, y, batch_size=16, epochs=20, verbose=0, shuffle=False)
    np.testing.assert_allclose(model.get_weights()[0][:, 0], numpy_adahessian(20, 0.05)[-1],
                               rtol=1e-4, atol=1e-5)


def test_without_enable_closure_first_step_says_what_to_do():
    model = keras.Sequential([keras.Input((3,)), keras.layers.Dense(1)])
    model.compile(optimizer=AdaHessian(), loss="mse")
    with pytest.raises(ValueError, match=r"Hessian-vector product.*enable_closure\(model\)"):
        model.fit(np.zeros((4, 3), "float32"), np.zeros((4, 1), "float32"), verbose=0)


@pytest.mark.parametrize("kwargs, match", [
    ({"beta_1": 1.0}, "beta_1=1.0"),
    ({"beta_2": -0.1}, "beta_2=-0.1"),
    ({"epsilon": -1e-3}, "epsilon=-0.001"),
    ({"hessian_power": 1.5}, "hessian_power=1.5"),
    ({"spatial_averaging": "yes"}, "spatial_averaging='yes'"),
    ({"seed": 1.5}, "seed=1.5"),
    ({"gradient_accumulation_steps": 2}, "gradient_accumulation_steps=2"),
])
def test_validation(kwargs, match):
    with pytest.raises(ValueError, match=match):
        AdaHessian(**kwargs)


# Keras 3.15's `model.save` converts a TF variable with np.array(copy=False); NumPy 2 warns
# about the variable's __array__ signature (any model, Keras's Adam included).
@pytest.mark.filterwarnings("ignore:__array__ implementation doesn't accept a copy keyword")
def test_config_and_keras_file_round_trip(tmp_path):
    optimizer = AdaHessian(learning_rate=0.1, beta_1=0.8, epsilon=1e-3, hessian_power=0.5,
                           spatial_averaging=False, seed=4, weight_decay=0.01, clipnorm=1.0)
    config = optimizer.get_config()
    assert (config["hessian_power"], config["spatial_averaging"], config["seed"]) == (0.5, False, 4)
    assert AdaHessian.from_config(config).get_config() == config
    keras.utils.set_random_seed(0)
    model = keras.Sequential([keras.Input((4, 4, 1)), keras.layers.Conv2D(2, 3, activation="tanh"),
                              keras.layers.Flatten(), keras.layers.Dense(1)])
    model.compile(optimizer=AdaHessian(learning_rate=0.05), loss="mse")
    x = np.random.default_rng(0).normal(size=(8, 4, 4, 1)).astype("float32")
    losses = enable_closure(model).fit(x, x.sum(axis=(1, 2)), batch_size=4, epochs=4,
                                       verbose=0).history["loss"]
    assert losses[-1] < losses[0]
    model.save(str(tmp_path / "ah.keras"))
    loaded = keras.saving.load_model(str(tmp_path / "ah.keras"), safe_mode=True)
    for a, b in zip(model.optimizer.variables, loaded.optimizer.variables, strict=True):
        np.testing.assert_array_equal(a.numpy(), b.numpy())
