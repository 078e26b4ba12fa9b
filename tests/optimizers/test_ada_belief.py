"""Tests of AdaBelief against a NumPy re-derivation of Zhuang et al. (2020), Algorithm 2."""

from __future__ import annotations

import numpy as np
import pytest

from kerasopt.optimizers.ada_belief import AdaBelief
from tests.optimizers.first_order_testing import (
    START,
    keras_trajectory,
    quadratic_gradient,
    single_variable,
)


def adabelief_reference(w, steps, lr=0.01, beta_1=0.9, beta_2=0.999, epsilon=1e-8, rectify=False,
                        amsgrad=False, weight_decay=0.0):
    """Algorithm 2 (epsilon inside s_t and in the denominator), optional RAdam rectification."""
    w = np.array(w, dtype="float64")
    m, s, s_max = np.zeros_like(w), np.zeros_like(w), np.zeros_like(w)
    rho_inf = 2.0 / (1.0 - beta_2) - 1.0
    out = []
    for t in range(1, steps + 1):
        g = quadratic_gradient(w)
        m = beta_1 * m + (1 - beta_1) * g
        s = beta_2 * s + (1 - beta_2) * (g - m) ** 2 + epsilon
        s_max = np.maximum(s_max, s)
        m_hat = m / (1 - beta_1**t)
        s_hat = (s_max if amsgrad else s) / (1 - beta_2**t)
        adaptive = m_hat / (np.sqrt(s_hat) + epsilon)
        if rectify:
            rho = rho_inf - 2 * t * beta_2**t / (1 - beta_2**t)
            if rho >= 5.0:
                r = np.sqrt((rho - 4) * (rho - 2) * rho_inf / ((rho_inf - 4) * (rho_inf - 2) * rho))
                update = r * adaptive
            else:
                update = m_hat
        else:
            update = adaptive
        w = w - lr * (update + weight_decay * w)
        out.append(w.copy())
    return np.stack(out)


def run(optimizer, steps):
    return keras_trajectory(optimizer, [START], single_variable(quadratic_gradient), steps)[0]


def test_first_step_by_hand():
    # m_1 = 0.1 g, s_1 = 0.001 (0.9 g)^2 + eps, so m_hat = g and s_hat = 0.81 g^2 + eps / 0.001:
    # the first step is lr g / (sqrt(0.81 g^2 + 1e-5) + 1e-8).
    g = quadratic_gradient(START)
    expected = START - 0.1 * g / (np.sqrt(0.81 * g * g + 1e-8 / 0.001) + 1e-8)
    got = run(AdaBelief(learning_rate=0.1, epsilon=1e-8, rectify=False), 1)[0]
    np.testing.assert_allclose(got, expected, rtol=1e-6, atol=1e-6)


@pytest.mark.parametrize(
    "kwargs",
    [
        {},
        {"rectify": True},
        {"amsgrad": True},
        {"weight_decay": 0.1, "epsilon": 1e-4},
    ],
    ids=["paper", "rectify", "amsgrad", "weight_decay"],
)
def test_twenty_steps_match_numpy_reference(kwargs):
    # Golden values: adabelief_reference above, float64.
    options = {"epsilon": 1e-8, "rectify": False, **kwargs}
    got = run(AdaBelief(learning_rate=0.01, **options), 20)
    np.testing.assert_allclose(got, adabelief_reference(START, 20, **options), rtol=1e-5, atol=1e-6)


def test_defaults_follow_adabelief_tf():
    optimizer = AdaBelief()
    assert optimizer.epsilon == 1e-14 and optimizer.rectify is True
    config = optimizer.get_config()
    assert AdaBelief.from_config(config).get_config() == config


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"rectify": 1}, r"`rectify` must be True or False\. Received: rectify=1"),
        ({"beta_1": -0.1}, r"`beta_1` must be a number in \[0, 1\)\. Received: beta_1=-0\.1"),
        ({"epsilon": "1e-8"}, r"`epsilon` must be .*Received: epsilon='1e-8'"),
        ({"total_steps": -1}, r"`total_steps` must be an integer >= 0\. Received: total_steps=-1"),
    ],
)
def test_invalid_arguments(kwargs, message):
    with pytest.raises(ValueError, match=message):
        AdaBelief(**kwargs)
