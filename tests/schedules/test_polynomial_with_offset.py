"""Tests for `kerasopt.schedules.polynomial_with_offset.PolynomialWithOffset`."""

from __future__ import annotations

import math
import re

import numpy as np
import pytest

from kerasopt.schedules.polynomial_with_offset import PolynomialWithOffset
from tests.schedules import schedule_checks as checks


def shifted_polynomial(lr0, decay, end, power, offset, cycle=False):
    """Keras PolynomialDecay's documented formula, evaluated at max(step - offset, 0)."""
    def lr(step):
        s = max(step - offset, 0)
        if cycle:
            d = decay * (1 if s == 0 else math.ceil(s / decay))
        else:
            d, s = decay, min(s, decay)
        return (lr0 - end) * (1 - s / d) ** power + end
    return lr


@pytest.mark.parametrize("offset", [0, 10])
@pytest.mark.parametrize("power,cycle", [(1.0, False), (2.0, False), (0.5, True)])
def test_matches_closed_form(offset, power, cycle):
    lr = PolynomialWithOffset(0.1, 20, 0.001, power, cycle, offset)
    checks.check_trajectory(lr, shifted_polynomial(0.1, 20, 0.001, power, offset, cycle),
                            offset + 70)


def test_golden_values_and_no_rise_before_offset():
    # Hand-computed: flat 0.1 until step 50, half way at step 100, 0 from step 150.
    # Model Garden would give 0.1 * (1 + 50 / 100) = 0.15 at step 0 (unclamped step - offset).
    lr = PolynomialWithOffset(0.1, decay_steps=100, end_learning_rate=0.0, offset=50)
    np.testing.assert_allclose(checks.eager(lr, [0, 50, 100, 150, 400]),
                               [0.1, 0.1, 0.05, 0.0, 0.0], rtol=1e-6, atol=1e-9)


@pytest.mark.parametrize(
    "kwargs,match",
    [
        (dict(decay_steps=0), "`decay_steps` must be a number > 0. Received: decay_steps=0"),
        (dict(end_learning_rate=-1.0), "end_learning_rate=-1.0"),
        (dict(power=0.0), "`power` must be a number > 0.0. Received: power=0.0"),
        (dict(cycle="no"), "`cycle` must be a bool. Received: cycle='no'"),
        (dict(offset=1.5), "`offset` must be an integer >= 0. Received: offset=1.5"),
    ],
)
def test_validation(kwargs, match):
    with pytest.raises(ValueError, match=re.escape(match)):
        PolynomialWithOffset(**{"initial_learning_rate": 0.1, "decay_steps": 10, **kwargs})


def test_config_round_trip_and_registry():
    lr = PolynomialWithOffset(0.1, 20, 0.001, 2.0, True, 10, name="poly")
    assert lr.get_config() == {"initial_learning_rate": 0.1, "decay_steps": 20,
                               "end_learning_rate": 0.001, "power": 2.0, "cycle": True,
                               "name": "poly", "offset": 10}
    checks.check_config_round_trip(lr)
    checks.check_registry(lr, "PolynomialWithOffset", "PolynomialDecayWithOffset")


@checks.KERAS_SAVE_WARNING
def test_fit_and_keras_file(tmp_path):
    lr = PolynomialWithOffset(0.05, 4, 0.0, offset=3)
    checks.check_fit_and_keras_file(lr, tmp_path, shifted_polynomial(0.05, 4, 0.0, 1.0, 3))
