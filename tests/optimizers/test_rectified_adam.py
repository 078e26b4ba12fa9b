"""Tests of RectifiedAdam against a NumPy re-derivation of Liu et al. (2019), Algorithm 2."""

from __future__ import annotations

import numpy as np
import pytest

from kerasopt import registry
from kerasopt.optimizers.rectified_adam import RectifiedAdam
from tests.optimizers.first_order_testing import (
    START,
    keras_trajectory,
    quadratic_gradient,
    single_variable,
)


def radam_reference(w, steps, lr=0.01, beta_1=0.9, beta_2=0.999, epsilon=1e-7, sma_threshold=5.0,
                    weight_decay=0.0, amsgrad=False, total_steps=0, warmup_proportion=0.1, min_lr=0.0):
    """RAdam written from the paper (Algorithm 2) plus TF Addons' warmup and decay, float64."""
    w = np.array(w, dtype="float64")
    m = np.zeros_like(w)
    v = np.zeros_like(w)
    v_max = np.zeros_like(w)
    rho_inf = 2.0 / (1.0 - beta_2) - 1.0
    out = []
    for t in range(1, steps + 1):
        g = quadratic_gradient(w)
        m = beta_1 * m + (1 - beta_1) * g
        v = beta_2 * v + (1 - beta_2) * g * g
        v_max = np.maximum(v_max, v)
        m_hat = m / (1 - beta_1**t)
        v_hat = (v_max if amsgrad else v) / (1 - beta_2**t)
        rho = rho_inf - 2 * t * beta_2**t / (1 - beta_2**t)
        if rho >= sma_threshold:
            r = np.sqrt((rho - 4) * (rho - 2) * rho_inf / ((rho_inf - 4) * (rho_inf - 2) * rho))
            update = r * m_hat / (np.sqrt(v_hat) + epsilon)
        else:
            update = m_hat
        update = update + weight_decay * w
        rate = lr
        if total_steps > 0:
            warm = total_steps * warmup_proportion
            decay_steps = max(total_steps - warm, 1)
            if t <= warm:
                rate = lr * t / warm
            else:
                rate = lr + (min_lr - lr) / decay_steps * min(t - warm, decay_steps)
        w = w - rate * update
        out.append(w.copy())
    return np.stack(out)


def run(optimizer, steps):
    return keras_trajectory(optimizer, [START], single_variable(quadratic_gradient), steps)[0]


def test_registered_with_alias():
    assert registry.get("optimizer", "RAdam") is RectifiedAdam
    assert registry.get("optimizer", "rectified_adam") is RectifiedAdam


def test_first_step_is_plain_sgd_while_rho_is_below_threshold():
    # rho_1 = 1 < 5, so the first step is lr * m_hat = lr * g (closed form).
    got = run(RectifiedAdam(learning_rate=0.1), 1)[0]
    np.testing.assert_allclose(got, START - 0.1 * quadratic_gradient(START), rtol=1e-6, atol=1e-6)


def test_twenty_steps_match_numpy_reference():
    # Golden values: radam_reference above, float64; steps 1-5 take the SGD branch
    # (rho_5 = 4.99), steps 6-20 the rectified adaptive branch.
    got = run(RectifiedAdam(learning_rate=0.01), 20)
    np.testing.assert_allclose(got, radam_reference(START, 20, lr=0.01), rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize(
    "kwargs",
    [
        {"amsgrad": True},
        {"weight_decay": 0.1},
        {"total_steps": 20, "warmup_proportion": 0.25, "min_lr": 0.001},
        {"sma_threshold": 8.0, "beta_2": 0.99},
    ],
    ids=["amsgrad", "weight_decay", "warmup", "threshold"],
)
def test_options_match_numpy_reference(kwargs):
    got = run(RectifiedAdam(learning_rate=0.01, **kwargs), 20)
    np.testing.assert_allclose(got, radam_reference(START, 20, lr=0.01, **kwargs), rtol=1e-5, atol=1e-6)


def test_excluded_variable_gets_no_weight_decay():
    optimizer = RectifiedAdam(learning_rate=0.01, weight_decay=0.5)
    optimizer.exclude_from_weight_decay(var_names=["w0"])
    got = run(optimizer, 8)
    np.testing.assert_allclose(got, radam_reference(START, 8, lr=0.01), rtol=1e-5, atol=1e-6)


def test_config_is_exactly_the_arguments():
    optimizer = RectifiedAdam(learning_rate=0.003, total_steps=100, min_lr=1e-5, weight_decay=0.01)
    config = optimizer.get_config()
    assert config["learning_rate"] == 0.003
    assert config["total_steps"] == 100 and config["min_lr"] == 1e-5
    assert RectifiedAdam.from_config(config).get_config() == config


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"beta_1": 1.0}, r"`beta_1` must be a number in \[0, 1\)\. Received: beta_1=1\.0"),
        ({"beta_2": 0.0}, r"`beta_2` must be .*Received: beta_2=0\.0"),
        ({"epsilon": -1.0}, r"`epsilon` must be .*Received: epsilon=-1\.0"),
        ({"amsgrad": "yes"}, r"`amsgrad` must be True or False\. Received: amsgrad='yes'"),
        ({"total_steps": 1.5}, r"`total_steps` must be an integer >= 0\. Received: total_steps=1\.5"),
        ({"warmup_proportion": 2.0}, r"`warmup_proportion` must be a number in \[0, 1\]"),
        ({"min_lr": -0.1}, r"`min_lr` must be .*Received: min_lr=-0\.1"),
        ({"sma_threshold": float("nan")}, r"`sma_threshold` must be"),
        ({"weight_decay": -1.0}, r"`weight_decay` must be .* or None\. Received: weight_decay=-1\.0"),
    ],
)
def test_invalid_arguments(kwargs, message):
    with pytest.raises(ValueError, match=message):
        RectifiedAdam(**kwargs)
