"""Tests for `kerasopt.schedules.power.Power`."""

from __future__ import annotations

import re

import numpy as np
import pytest

from kerasopt.schedules.power import Power
from tests.schedules import schedule_checks as checks


def model_garden(lr0, power, offset=0, total=None, fraction=0.1):
    """Model Garden's DirectPowerDecay / PowerAndLinearDecay, re-derived from their docstrings."""
    def lr(step):
        s = step - offset
        value = lr0 * max(s, 1) ** power
        if total is not None and total * fraction > 0:
            value *= min(1.0, (total - s) / (total * fraction))
            value = max(0.0, value)
        return value
    return lr


@pytest.mark.parametrize("power", [-0.5, -1.0, 0.5, 1.0])
def test_direct_power_decay(power):
    checks.check_trajectory(Power(0.1, power), model_garden(0.1, power), 60)


@pytest.mark.parametrize("offset,total,fraction", [(0, 40, None), (5, 40, 0.25), (3, 30, 1.0),
                                                   (0, 20, 0.0)])
def test_power_and_linear_decay(offset, total, fraction):
    lr = Power(0.1, -0.5, offset, total, fraction)
    expected_fraction = 0.1 if fraction is None else fraction
    # Runs 15 steps past the end, where the rate is 0 (unless fraction == 0).
    checks.check_trajectory(lr, model_garden(0.1, -0.5, offset, total, expected_fraction),
                            offset + total + 15)


def test_golden_values():
    # Hand-computed: 0.1 * s ** -0.5 at s = 1, 4, 100; with T = 100 and fraction 0.5 the
    # ramp at s = 75 is (100 - 75) / 50 = 0.5, so 0.1 / sqrt(75) / 2; 0 from s = 100.
    np.testing.assert_allclose(checks.eager(Power(0.1, -0.5), [0, 1, 4, 100]),
                               [0.1, 0.1, 0.05, 0.01], rtol=1e-6)
    decay = Power(0.1, -0.5, total_decay_steps=100, linear_decay_fraction=0.5)
    np.testing.assert_allclose(checks.eager(decay, [49, 75, 100, 120]),
                               [0.1 / 49**0.5, 0.05 / 75**0.5, 0.0, 0.0], rtol=1e-6)


@pytest.mark.parametrize(
    "kwargs,match",
    [
        (dict(initial_learning_rate=0.0), "`initial_learning_rate` must be a number > 0.0. Received: initial_learning_rate=0.0"),
        (dict(initial_learning_rate=0.1, power=float("nan")), "power=nan"),
        (dict(initial_learning_rate=0.1, offset=-2), "`offset` must be an integer >= 0. Received: offset=-2"),
        (dict(initial_learning_rate=0.1, total_decay_steps=0), "`total_decay_steps` must be an integer >= 1. Received: total_decay_steps=0"),
        (dict(initial_learning_rate=0.1, linear_decay_fraction=0.2), "`linear_decay_fraction` needs `total_decay_steps`"),
        (dict(initial_learning_rate=0.1, total_decay_steps=10, linear_decay_fraction=1.5), "`linear_decay_fraction` must be a number >= 0.0 and <= 1.0. Received: linear_decay_fraction=1.5"),
    ],
)
def test_validation(kwargs, match):
    with pytest.raises(ValueError, match=re.escape(match)):
        Power(**kwargs)


def test_config_round_trip_and_registry():
    lr = Power(0.1, -0.5, 5, 40, 0.25, name="p")
    checks.check_config_round_trip(lr)
    checks.check_registry(lr, "power", "PowerAndLinearDecay")
    checks.check_registry(Power(0.1, -0.5), "DirectPowerDecay", "direct_power_decay")


@checks.KERAS_SAVE_WARNING
def test_fit_and_keras_file(tmp_path):
    lr = Power(0.05, -0.5, total_decay_steps=8, linear_decay_fraction=0.5)
    checks.check_fit_and_keras_file(lr, tmp_path, model_garden(0.05, -0.5, 0, 8, 0.5))
