"""Tests of Yogi against a NumPy re-derivation of Zaheer et al. (2018), Algorithm 2."""

from __future__ import annotations

import numpy as np
import pytest

from kerasopt.optimizers.yogi import Yogi
from tests.optimizers.first_order_testing import (
    START,
    keras_trajectory,
    quadratic_gradient,
    single_variable,
)


def yogi_reference(w, steps, lr=0.01, beta_1=0.9, beta_2=0.999, epsilon=1e-3, l1=0.0, l2=0.0,
                   initial=1e-6, activation="sign"):
    """Algorithm 2 with TF Addons' bias-corrected step and proximal l1/l2 step, float64."""
    w = np.array(w, dtype="float64")
    m = np.zeros_like(w)
    v = np.full_like(w, initial)
    out = []
    for t in range(1, steps + 1):
        g = quadratic_gradient(w)
        if activation == "sign":
            v = v - (1 - beta_2) * np.sign(v - g * g) * g * g
        else:
            v = v + (1 - beta_2) * np.tanh(10 * (g * g - v)) * g * g
        m = beta_1 * m + (1 - beta_1) * g
        rate = lr * np.sqrt(1 - beta_2**t) / (1 - beta_1**t) / (np.sqrt(v) + epsilon)
        w = w - rate * (m if beta_1 > 0 else g)
        # Proximal step: argmin_u 0.5 (1 + l2 rate) u^2 - w u + l1 rate |u|.
        w = np.sign(w) * np.maximum(np.abs(w) - l1 * rate, 0.0) / (1 + l2 * rate)
        out.append(w.copy())
    return np.stack(out)


def run(optimizer, steps):
    return keras_trajectory(optimizer, [START], single_variable(quadratic_gradient), steps)[0]


def test_first_step_by_hand():
    # v_1 = 1e-6 + 0.001 g^2 (g^2 > v_0), m_1 = 0.1 g, rate = lr sqrt(0.001) / 0.1:
    # w_1 = w_0 - lr sqrt(0.001) g / (sqrt(1e-6 + 0.001 g^2) + 1e-3).
    g = quadratic_gradient(START)
    expected = START - 0.01 * np.sqrt(0.001) * g / (np.sqrt(1e-6 + 0.001 * g * g) + 1e-3)
    np.testing.assert_allclose(run(Yogi(), 1)[0], expected, rtol=1e-6, atol=1e-7)


@pytest.mark.parametrize(
    "kwargs",
    [
        {},
        {"beta_1": 0.0},
        {"activation": "tanh"},
        {"l1_regularization_strength": 0.05, "l2_regularization_strength": 0.1},
        {"l2_regularization_strength": 0.2},
        {"initial_accumulator_value": 0.5},
    ],
    ids=["default", "no_momentum", "tanh", "l1_l2", "l2", "initial_accumulator"],
)
def test_twenty_steps_match_numpy_reference(kwargs):
    # Golden values: yogi_reference above, float64.
    names = {"l1_regularization_strength": "l1", "l2_regularization_strength": "l2",
             "initial_accumulator_value": "initial"}
    reference = yogi_reference(START, 20, lr=0.05, **{names.get(k, k): v for k, v in kwargs.items()})
    got = run(Yogi(learning_rate=0.05, **kwargs), 20)
    np.testing.assert_allclose(got, reference, rtol=1e-5, atol=1e-6)


def test_l1_drives_small_weights_to_exact_zero():
    # A weight with zero gradient and a strong l1 pull is thresholded to 0.0 exactly.
    optimizer = Yogi(learning_rate=0.5, l1_regularization_strength=10.0)
    got = keras_trajectory(optimizer, [np.array([0.01])], lambda ws: [np.array([0.0])], 3)[0]
    assert got[-1, 0] == 0.0


def test_config_round_trip():
    optimizer = Yogi(learning_rate=0.02, activation="tanh", l1_regularization_strength=0.1)
    config = optimizer.get_config()
    assert config["beta_1"] == 0.9 and config["activation"] == "tanh"
    assert Yogi.from_config(config).get_config() == config


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"activation": "relu"}, r"`activation` must be one of 'sign', 'tanh'\. Received: activation='relu'"),
        ({"initial_accumulator_value": 0.0}, r"`initial_accumulator_value` must be a number in \(0, inf\)"),
        ({"l1_regularization_strength": -1.0}, r"`l1_regularization_strength` must be .*=-1\.0"),
        ({"l2_regularization_strength": None}, r"`l2_regularization_strength` must be .*=None"),
        ({"beta_2": 1.0}, r"`beta_2` must be a number in \(0, 1\)\. Received: beta_2=1\.0"),
    ],
)
def test_invalid_arguments(kwargs, message):
    with pytest.raises(ValueError, match=message):
        Yogi(**kwargs)
