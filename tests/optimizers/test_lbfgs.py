"""LBFGS: two-loop recursion, first steps by hand, golden trajectory, scipy, plain `fit`."""

from __future__ import annotations

import keras
import numpy as np
import pytest
import scipy.optimize
from keras import ops

from kerasopt.optimizers.lbfgs import LBFGS, two_loop_recursion
from tests.optimizers.line_search_reference import (
    Reference,
    dense_inverse_hessian,
    quadratic_np,
    quadratic_ops,
    rosenbrock_np,
    rosenbrock_ops,
    run_keras,
)


def test_two_loop_matches_dense_bfgs_inverse_with_ring_buffer_wraparound():
    rng = np.random.default_rng(0)
    n, m = 6, 3
    a = rng.normal(size=(n, n))
    a = a @ a.T + n * np.eye(n)  # SPD, so y^T s > 0 for every pair
    pairs = [(s, a @ s) for s in rng.normal(size=(5, n))]
    s_hist, y_hist = np.zeros((m, n)), np.zeros((m, n))
    for i, (s, y) in enumerate(pairs):  # 5 pushes into 3 rows: rows hold pairs 3, 4, 2
        s_hist[i % m], y_hist[i % m] = s, y
    g = rng.normal(size=n)
    got = two_loop_recursion(*(ops.convert_to_tensor(v) for v in (g, s_hist, y_hist)),
                             ops.convert_to_tensor(5 % m, "int32"), ops.convert_to_tensor(m, "int32"))
    want = dense_inverse_hessian(pairs[-m:], n) @ g
    np.testing.assert_allclose(np.asarray(got), want, rtol=1e-10)
    # Empty history: the identity.
    got = two_loop_recursion(*(ops.convert_to_tensor(v) for v in (g, s_hist, y_hist)),
                             ops.convert_to_tensor(0, "int32"), ops.convert_to_tensor(0, "int32"))
    np.testing.assert_allclose(np.asarray(got), g)


def test_first_two_steps_by_hand():
    # f = 0.5 x^T diag(1, 4) x from (1, 1): g0 = (1, 4). First trial: x0 - g0 / ||g0||.
    a, b, x0 = np.diag([1.0, 4.0]), np.zeros(2), np.array([1.0, 1.0])
    ws, _ = run_keras(LBFGS(full_batch_check=0), quadratic_ops(a, b), x0, 2)
    g0 = a @ x0
    alpha0 = 1 / np.linalg.norm(g0)
    x1 = x0 - alpha0 * g0
    np.testing.assert_allclose(ws[0], x1, rtol=1e-12)
    # phi'(alpha0) = -17 + 65 alpha0 = -1.24, |.| <= 0.9 * 17: accepted. One pair
    # s = x1 - x0, y = A s; H1 = (I - rho s y^T) gamma I (I - rho y s^T) + rho s s^T,
    # gamma = s^T y / y^T y (N&W eqs. 6.17, 7.20); the unit step is tried next.
    s, y = x1 - x0, a @ (x1 - x0)
    rho, gamma = 1 / (s @ y), (s @ y) / (y @ y)
    v = np.eye(2) - rho * np.outer(y, s)
    h1 = gamma * v.T @ v + rho * np.outer(s, s)
    np.testing.assert_allclose(ws[1], x1 - h1 @ (a @ x1), rtol=1e-12)


@pytest.mark.parametrize("problem", ["rosenbrock", "quadratic"])
def test_trajectory_matches_numpy_reference(problem):
    # Golden values: the procedural NumPy re-derivation in line_search_reference.py
    # (N&W Algorithms 3.5/3.6 as loops, dense BFGS inverse instead of the two-loop).
    if problem == "rosenbrock":
        f_np, f_ops, x0 = rosenbrock_np, rosenbrock_ops, np.array([-1.2, 1.0])
    else:
        rng = np.random.default_rng(1)
        q = np.linalg.qr(rng.normal(size=(5, 5)))[0]
        a = q @ np.diag([1.0, 2.0, 5.0, 10.0, 30.0]) @ q.T
        b = rng.normal(size=5)
        f_np, f_ops, x0 = quadratic_np(a, b), quadratic_ops(a, b), np.zeros(5)
    points = np.array(Reference(f_np, m=3).run(x0, 21))[:21]
    ws, _ = run_keras(LBFGS(history_size=3, full_batch_check=0), f_ops, x0, 20)
    evaluated = np.concatenate([x0[None], ws])[:len(points)]
    np.testing.assert_allclose(evaluated, points, rtol=1e-9, atol=1e-12)


def test_full_batch_check_spends_one_evaluation_at_the_start():
    x0 = np.array([-1.2, 1.0])
    ws, _ = run_keras(LBFGS(full_batch_check=20), rosenbrock_ops, x0, 3)
    ws0, _ = run_keras(LBFGS(full_batch_check=0), rosenbrock_ops, x0, 2)
    np.testing.assert_array_equal(ws[0], x0)  # the check re-evaluates x0
    np.testing.assert_allclose(ws[1:], ws0, rtol=1e-12)


@pytest.fixture
def float64():
    # Keras sums the compiled loss (floatx) with regularization losses: float64 end to end.
    # Keras caches the global dtype policy when the first layer is built, so set it too.
    previous, policy = keras.config.floatx(), keras.config.dtype_policy()
    keras.config.set_floatx("float64")
    keras.config.set_dtype_policy("float64")
    yield
    keras.config.set_floatx(previous)
    keras.config.set_dtype_policy(policy)


def _logistic_problem():
    from sklearn.datasets import make_classification

    x, y = make_classification(n_samples=80, n_features=5, n_informative=3, flip_y=0.2,
                               random_state=0)
    return x.astype("float64"), y.astype("float64")[:, None]


def _logistic_model(l2):
    inp = keras.Input((5,))
    out = keras.layers.Dense(1, kernel_initializer="zeros",
                             kernel_regularizer=keras.regularizers.L2(l2))(inp)
    return keras.Model(inp, out)


def test_fit_matches_scipy_lbfgsb_on_regularized_logistic_regression(float64):
    x, y, l2 = *_logistic_problem(), 1e-2

    def objective(p):
        w, b = p[:5], p[5]
        z = x @ w + b
        loss = np.mean(np.logaddexp(0, z) - y[:, 0] * z) + l2 * w @ w
        r = 1 / (1 + np.exp(-z)) - y[:, 0]
        return loss, np.concatenate([x.T @ r / len(x) + 2 * l2 * w, [r.mean()]])

    ref = scipy.optimize.minimize(objective, np.zeros(6), jac=True, method="L-BFGS-B",
                                  options={"gtol": 1e-12, "ftol": 1e-15})
    model = _logistic_model(l2)
    model.compile(optimizer=LBFGS(tolerance_grad=1e-10),
                  loss=keras.losses.BinaryCrossentropy(from_logits=True))
    steps = 60  # the same full batch, 60 times: one epoch of 60 identical batches
    model.fit(np.tile(x, (steps, 1)), np.tile(y, (steps, 1)), batch_size=len(x), epochs=1,
              shuffle=False, verbose=0)
    kernel, bias = model.get_weights()
    np.testing.assert_allclose(np.concatenate([kernel[:, 0], bias]), ref.x, atol=1e-5)
    assert model.optimizer.full_batch_mismatches == 0


def test_fit_ends_at_best_point_and_warns_on_mini_batches(float64):
    x, y = _logistic_problem()
    model = _logistic_model(1e-2)
    model.compile(optimizer=LBFGS(), loss=keras.losses.BinaryCrossentropy(from_logits=True))
    history = model.fit(np.tile(x, (7, 1)), np.tile(y, (7, 1)), batch_size=len(x), epochs=1,
                        shuffle=False, verbose=0)
    # 7 steps end inside a line search; fit restores the best point evaluated so far.
    best = min(model.evaluate(x, y, batch_size=len(x), verbose=0), history.history["loss"][-1])
    assert model.evaluate(x, y, batch_size=len(x), verbose=0) == pytest.approx(best, rel=1e-12)
    with pytest.warns(UserWarning, match="loss changed at an unchanged point"):
        model.fit(x, y, batch_size=20, epochs=1, shuffle=False, verbose=0)
    assert model.optimizer.full_batch_mismatches >= 1


def test_config_and_keras_file_round_trip(tmp_path, float64):
    opt = LBFGS(learning_rate=0.5, history_size=4, c2=0.8, full_batch_check=5, name="lb")
    config = opt.get_config()
    assert {k: config[k] for k in ("history_size", "c2", "full_batch_check", "max_line_search_steps")} == {
        "history_size": 4, "c2": 0.8, "full_batch_check": 5, "max_line_search_steps": 25}
    assert LBFGS.from_config(config).get_config() == config
    x, y = _logistic_problem()
    model = _logistic_model(1e-2)
    model.compile(optimizer=opt, loss=keras.losses.BinaryCrossentropy(from_logits=True))
    model.fit(np.tile(x, (5, 1)), np.tile(y, (5, 1)), batch_size=len(x), shuffle=False, verbose=0)
    model.save(tmp_path / "m.keras")
    loaded = keras.saving.load_model(tmp_path / "m.keras", safe_mode=True)
    assert isinstance(loaded.optimizer, LBFGS)
    assert loaded.optimizer.get_config() == config
    for a, b in zip(model.optimizer.variables, loaded.optimizer.variables, strict=False):
        np.testing.assert_array_equal(np.asarray(a), np.asarray(b))


@pytest.mark.parametrize("kwargs,match", [
    ({"history_size": 0}, "`history_size` must be an integer >= 1. Received: history_size=0"),
    ({"max_line_search_steps": 0}, "`max_line_search_steps` must be an integer >= 1"),
    ({"c1": 0.0}, r"`c1` must be a number in \(0, 1\). Received: c1=0.0"),
    ({"c1": 0.5, "c2": 0.4}, r"`c2` must be a number in \(c1, 1\)"),
    ({"tolerance_grad": -1.0}, "`tolerance_grad` must be a number >= 0. Received: tolerance_grad=-1.0"),
    ({"tolerance_change": "x"}, "`tolerance_change` must be a number >= 0"),
    ({"full_batch_check": -1}, "`full_batch_check` must be an integer >= 0"),
    ({"weight_decay": 0.1}, "`weight_decay` is not supported by LBFGS.*Received: weight_decay=0.1"),
    ({"clipnorm": 1.0}, "`clipnorm` is not supported"),
    ({"gradient_accumulation_steps": 2}, "`gradient_accumulation_steps` is not supported"),
])
def test_validation_errors(kwargs, match):
    with pytest.raises(ValueError, match=match):
        LBFGS(**kwargs)


def test_step_without_scale_loss_raises():
    var = keras.Variable(np.ones(2), dtype="float32")
    opt = LBFGS()
    with pytest.raises(ValueError, match="call `loss = optimizer.scale_loss"):
        opt.apply([ops.ones(2)], [var])
