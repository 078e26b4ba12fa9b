"""Tests for `kerasopt.schedules.warmup_stable_decay.WarmupStableDecay`."""

from __future__ import annotations

import math
import re

import numpy as np
import pytest

from kerasopt.schedules.warmup_stable_decay import WarmupStableDecay
from tests.schedules import schedule_checks as checks


def wsd(peak, warmup, stable, decay, kind="linear", initial=0.0, final=0.0):
    """Piecewise definition of the three phases, from the docstring's equations."""
    def lr(step):
        if step < warmup:
            return initial + (peak - initial) * step / warmup
        if step < warmup + stable:
            return peak
        x = min((step - warmup - stable) / decay, 1.0)
        shape = {"linear": 1 - x, "cosine": 0.5 * (1 + math.cos(math.pi * x)),
                 "sqrt": 1 - math.sqrt(x)}[kind]
        return final + (peak - final) * shape
    return lr


@pytest.mark.parametrize("kind", ["linear", "cosine", "sqrt"])
@pytest.mark.parametrize("warmup,stable,initial,final", [(10, 20, 0.0, 0.0), (0, 5, 0.0, 0.001),
                                                         (7, 0, 0.002, 0.0)])
def test_matches_closed_form(kind, warmup, stable, initial, final):
    lr = WarmupStableDecay(0.01, warmup, stable, 15, kind, initial, final)
    checks.check_trajectory(lr, wsd(0.01, warmup, stable, 15, kind, initial, final),
                            warmup + stable + 15 + 10)


def test_golden_values():
    # Hand-computed for peak 1e-3, 100 warmup, 800 stable, 100 decay steps:
    # step 50 half the warmup; 950 half the decay: linear 0.5, cosine 0.5, 1-sqrt(0.5).
    steps = [0, 50, 100, 899, 950, 1000, 2000]
    for kind, mid in [("linear", 0.5e-3), ("cosine", 0.5e-3), ("sqrt", 1e-3 * (1 - 0.5**0.5))]:
        got = checks.eager(WarmupStableDecay(1e-3, 100, 800, 100, kind), steps)
        np.testing.assert_allclose(got, [0.0, 0.5e-3, 1e-3, 1e-3, mid, 0.0, 0.0], rtol=1e-5,
                                   atol=1e-10)


@pytest.mark.parametrize(
    "kwargs,match",
    [
        (dict(learning_rate=0.0), "`learning_rate` must be a number > 0.0. Received: learning_rate=0.0"),
        (dict(warmup_steps=-1), "`warmup_steps` must be an integer >= 0. Received: warmup_steps=-1"),
        (dict(stable_steps=1.5), "stable_steps=1.5"),
        (dict(decay_steps=0), "`decay_steps` must be an integer >= 1. Received: decay_steps=0"),
        (dict(decay_type="exp"), "`decay_type` must be one of 'linear', 'cosine', 'sqrt'. Received: decay_type='exp'"),
        (dict(initial_learning_rate=0.2), "`initial_learning_rate` must be a number >= 0.0 and <= 0.1. Received: initial_learning_rate=0.2"),
        (dict(final_learning_rate=-0.01), "final_learning_rate=-0.01"),
        (dict(name=None), "name=None"),
    ],
)
def test_validation(kwargs, match):
    args = dict(learning_rate=0.1, warmup_steps=1, stable_steps=1, decay_steps=1)
    with pytest.raises(ValueError, match=re.escape(match)):
        WarmupStableDecay(**{**args, **kwargs})


def test_config_round_trip_and_registry():
    lr = WarmupStableDecay(0.01, 10, 20, 15, "sqrt", 0.001, 0.0001, name="wsd")
    checks.check_config_round_trip(lr)
    checks.check_registry(lr, "warmup_stable_decay", "WSD")


@checks.KERAS_SAVE_WARNING
def test_fit_and_keras_file(tmp_path):
    lr = WarmupStableDecay(0.05, 2, 2, 4, "cosine")
    checks.check_fit_and_keras_file(lr, tmp_path, wsd(0.05, 2, 2, 4, "cosine"))
