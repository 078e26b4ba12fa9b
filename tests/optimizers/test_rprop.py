"""Tests of Rprop (iRprop-) against a NumPy re-derivation of Igel & Hüsken (2000), Fig. 2."""

from __future__ import annotations

import numpy as np
import pytest

from kerasopt.optimizers.rprop import Rprop
from tests.optimizers.first_order_testing import (
    START,
    keras_trajectory,
    quadratic_gradient,
    single_variable,
)


def rprop_reference(w, steps, gradient=quadratic_gradient, lr=0.01, eta_minus=0.5, eta_plus=1.2,
                    min_step=1e-6, max_step=50.0):
    """iRprop- as torch.optim.Rprop computes it: prev starts at 0, step sizes at lr."""
    w = np.array(w, dtype="float64")
    prev = np.zeros_like(w)
    size = np.full_like(w, lr)
    out = []
    for _ in range(steps):
        g = gradient(w)
        agreement = np.sign(g) * np.sign(prev)
        size = np.where(agreement > 0, np.minimum(size * eta_plus, max_step), size)
        size = np.where(agreement < 0, np.maximum(size * eta_minus, min_step), size)
        g = np.where(agreement < 0, 0.0, g)
        w = w - np.sign(g) * size
        prev = g
        out.append(w.copy())
    return np.stack(out)


def run(optimizer, steps, gradient=quadratic_gradient, start=START):
    return keras_trajectory(optimizer, [start], single_variable(gradient), steps)[0]


def test_first_two_steps_by_hand():
    # Step 1 moves every weight by lr against its gradient sign; step 2 (same signs here)
    # grows the step to 1.2 lr.
    got = run(Rprop(learning_rate=0.1), 2, gradient=lambda w: np.array([2.0, -3.0]), start=np.zeros(2))
    np.testing.assert_allclose(got[0], [-0.1, 0.1], rtol=1e-6)
    np.testing.assert_allclose(got[1], [-0.1 - 0.12, 0.1 + 0.12], rtol=1e-6)


def test_sign_flip_shrinks_the_step_and_skips_the_move():
    # Gradient signs +, -, -: step 2 sees a flip (step size 0.1 -> 0.05, no move, prev = 0);
    # step 3 sees prev = 0, so it moves by the unchanged 0.05.
    signs = iter([1.0, -1.0, -1.0])
    got = run(Rprop(learning_rate=0.1), 3, gradient=lambda w: np.array([next(signs)]), start=np.zeros(1))
    np.testing.assert_allclose(got[:, 0], [-0.1, -0.1, -0.05], rtol=1e-6)


@pytest.mark.parametrize(
    "kwargs",
    [{}, {"eta_minus": 0.3, "eta_plus": 1.5}, {"min_step": 0.004, "max_step": 0.05}],
    ids=["default", "etas", "bounds"],
)
def test_twenty_steps_match_numpy_reference(kwargs):
    # Golden values: rprop_reference above, float64 (the quadratic makes signs flip).
    got = run(Rprop(learning_rate=0.05, **kwargs), 20)
    np.testing.assert_allclose(got, rprop_reference(START, 20, lr=0.05, **kwargs), rtol=1e-5, atol=1e-6)


def test_step_sizes_stay_within_bounds():
    optimizer = Rprop(learning_rate=0.5, min_step=0.01, max_step=0.8)
    run(optimizer, 20)
    sizes = optimizer._steps[0].numpy()
    assert np.all(sizes >= 0.01 - 1e-7) and np.all(sizes <= 0.8 + 1e-7)


def test_config_round_trip():
    optimizer = Rprop(learning_rate=0.02, eta_minus=0.4, max_step=10.0)
    config = optimizer.get_config()
    assert config["learning_rate"] == 0.02 and config["eta_minus"] == 0.4
    assert Rprop.from_config(config).get_config() == config


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"eta_minus": 1.0}, r"`eta_minus` must be a number in \(0, 1\)\. Received: eta_minus=1\.0"),
        ({"eta_plus": 1.0}, r"`eta_plus` must be a number in \(1, inf\)\. Received: eta_plus=1\.0"),
        ({"min_step": 0.0}, r"`min_step` must be a number in \(0, inf\)\. Received: min_step=0\.0"),
        ({"min_step": 1.0, "max_step": 0.5}, r"`max_step` must be a number in \[1, inf\)\. Received: max_step=0\.5"),
    ],
)
def test_invalid_arguments(kwargs, message):
    with pytest.raises(ValueError, match=message):
        Rprop(**kwargs)
