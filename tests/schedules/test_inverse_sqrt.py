"""Tests for `kerasopt.schedules.inverse_sqrt.InverseSqrt`."""

from __future__ import annotations

import re

import numpy as np
import pytest

from kerasopt.schedules.inverse_sqrt import InverseSqrt
from tests.schedules import schedule_checks as checks


def noam(d_model, warmup):
    """Vaswani et al. 2017, Eq. 3: d_model^-0.5 * min(step^-0.5, step * warmup^-1.5), lr(0) = 0."""
    def lr(step):
        if step == 0:
            return 0.0
        return d_model**-0.5 * min(step**-0.5, step * warmup**-1.5)
    return lr


def test_equals_the_paper_schedule_at_its_peak():
    # With learning_rate = (d_model * warmup) ** -0.5 the normalised form is Eq. 3 itself.
    d_model, warmup = 512, 40
    lr = InverseSqrt((d_model * warmup) ** -0.5, warmup)
    checks.check_trajectory(lr, noam(d_model, warmup), 200)


@pytest.mark.parametrize("warmup", [1, 3, 25])
def test_peak_is_learning_rate(warmup):
    got = checks.check_trajectory(InverseSqrt(0.002, warmup), lambda s: 0.002 * min(
        s / warmup, (warmup / max(s, 1)) ** 0.5), 120)
    assert int(np.argmax(got)) == warmup
    assert got.max() == pytest.approx(0.002)


def test_golden_values():
    # Hand-computed: half the peak at half the warmup and at 4x the warmup.
    got = checks.eager(InverseSqrt(1e-3, 4000), [0, 2000, 4000, 16000])
    np.testing.assert_allclose(got, [0.0, 5e-4, 1e-3, 5e-4], rtol=1e-6)


@pytest.mark.parametrize(
    "kwargs,match",
    [
        (dict(learning_rate=-1.0, warmup_steps=4), "`learning_rate` must be a number > 0.0. Received: learning_rate=-1.0"),
        (dict(learning_rate=True, warmup_steps=4), "learning_rate=True"),
        (dict(learning_rate=0.1, warmup_steps=0), "`warmup_steps` must be an integer >= 1. Received: warmup_steps=0"),
    ],
)
def test_validation(kwargs, match):
    with pytest.raises(ValueError, match=re.escape(match)):
        InverseSqrt(**kwargs)


def test_config_round_trip_and_registry():
    lr = InverseSqrt(0.002, 25, name="noam")
    checks.check_config_round_trip(lr)
    checks.check_registry(lr, "inverse_sqrt", "Noam", "InverseSquareRoot")


@checks.KERAS_SAVE_WARNING
def test_fit_and_keras_file(tmp_path):
    lr = InverseSqrt(0.05, 4)
    checks.check_fit_and_keras_file(lr, tmp_path, lambda s: 0.05 * min(s / 4, (4 / max(s, 1)) ** 0.5))
