"""Tests for `kerasopt.schedules.one_cycle.OneCycle`."""

from __future__ import annotations

import math
import re

import numpy as np
import pytest

from kerasopt.schedules.one_cycle import OneCycle
from tests.schedules import schedule_checks as checks


def torch_one_cycle(max_lr, total, pct_start=0.3, div=25.0, final_div=1e4, anneal="cos",
                    three_phase=False):
    """PyTorch's `OneCycleLR.get_lr` transcribed to plain Python (torch 2.x source).

    The only change: steps past `total_steps - 1` are clamped, where PyTorch raises.
    """
    initial = max_lr / div
    min_lr = initial / final_div
    if three_phase:
        phases = [(float(pct_start * total) - 1, initial, max_lr),
                  (float(2 * pct_start * total) - 2, max_lr, initial),
                  (total - 1, initial, min_lr)]
    else:
        phases = [(float(pct_start * total) - 1, initial, max_lr), (total - 1, max_lr, min_lr)]

    def anneal_fn(start, end, pct):
        if anneal == "cos":
            return end + (start - end) / 2.0 * (math.cos(math.pi * pct) + 1)
        return (end - start) * pct + start

    def lr(step):
        step = min(step, total - 1)
        start_step = 0.0
        for i, (end_step, start_lr, end_lr) in enumerate(phases):
            if step <= end_step or i == len(phases) - 1:
                return anneal_fn(start_lr, end_lr, (step - start_step) / (end_step - start_step))
            start_step = end_step
    return lr


@pytest.mark.parametrize(
    "kwargs",
    [
        dict(max_learning_rate=0.1, total_steps=100),
        dict(max_learning_rate=0.1, total_steps=100, anneal="linear"),
        dict(max_learning_rate=0.05, total_steps=37, pct_start=0.25, div_factor=10.0,
             final_div_factor=100.0, three_phase=True),
        dict(max_learning_rate=1.0, total_steps=64, pct_start=0.45, anneal="linear",
             three_phase=True),
    ],
)
def test_matches_pytorch_one_cycle(kwargs):
    lr = OneCycle(**kwargs)
    reference = torch_one_cycle(
        kwargs["max_learning_rate"], kwargs["total_steps"], kwargs.get("pct_start", 0.3),
        kwargs.get("div_factor", 25.0), kwargs.get("final_div_factor", 1e4),
        kwargs.get("anneal", "cos"), kwargs.get("three_phase", False))
    # Beyond the end (total_steps + 20) the rate stays at the final value.
    got = checks.check_trajectory(lr, reference, kwargs["total_steps"] + 20)
    assert got[-1] == pytest.approx(got[kwargs["total_steps"] - 1])


def test_golden_values():
    # Hand-computed: initial = 0.1 / 25 = 0.004, peak at step 0.3 * 100 - 1 = 29,
    # final = 0.004 / 1e4 = 4e-7 at step 99; step 64 is half of phase 2 (29..99):
    # (0.1 + 4e-7) / 2.
    got = checks.eager(OneCycle(0.1, 100), [0, 29, 64, 99, 150])
    np.testing.assert_allclose(got, [0.004, 0.1, 0.0500002, 4e-7, 4e-7], rtol=1e-5)
    # Three phases: back to 0.004 at step 2 * 30 - 2 = 58.
    three = checks.eager(OneCycle(0.1, 100, three_phase=True), [29, 58, 99])
    np.testing.assert_allclose(three, [0.1, 0.004, 4e-7], rtol=1e-5)


@pytest.mark.parametrize(
    "kwargs,match",
    [
        (dict(max_learning_rate=0.0, total_steps=10), "`max_learning_rate` must be a number > 0.0. Received: max_learning_rate=0.0"),
        (dict(max_learning_rate=0.1, total_steps=1), "`total_steps` must be an integer >= 2. Received: total_steps=1"),
        (dict(max_learning_rate=0.1, total_steps=10.0), "total_steps=10.0"),
        (dict(max_learning_rate=0.1, total_steps=10, pct_start=1.0), "`pct_start` must be a number > 0.0 and < 1.0. Received: pct_start=1.0"),
        (dict(max_learning_rate=0.1, total_steps=10, div_factor=0), "div_factor=0"),
        (dict(max_learning_rate=0.1, total_steps=10, final_div_factor=-1.0), "final_div_factor=-1.0"),
        (dict(max_learning_rate=0.1, total_steps=10, anneal="cosine"), "`anneal` must be one of 'cos', 'linear'. Received: anneal='cosine'"),
        (dict(max_learning_rate=0.1, total_steps=10, three_phase=1), "three_phase=1"),
        (dict(max_learning_rate=0.1, total_steps=10, pct_start=0.1), "every phase at least one step"),
        (dict(max_learning_rate=0.1, total_steps=100, pct_start=0.6, three_phase=True), "pct_start=0.6, total_steps=100, three_phase=True"),
    ],
)
def test_validation(kwargs, match):
    with pytest.raises(ValueError, match=re.escape(match)):
        OneCycle(**kwargs)


def test_config_round_trip_and_registry():
    lr = OneCycle(0.05, 37, 0.25, 10.0, 100.0, "linear", True, name="oc")
    checks.check_config_round_trip(lr)
    checks.check_registry(lr, "OneCycle", "one_cycle", "OneCycleLR", "one_cycle_learning_rate")


@checks.KERAS_SAVE_WARNING
def test_fit_and_keras_file(tmp_path):
    lr = OneCycle(0.1, 10)
    checks.check_fit_and_keras_file(lr, tmp_path, torch_one_cycle(0.1, 10))
