"""Tests for `kerasopt.schedules.cyclical.Cyclical`."""

from __future__ import annotations

import math
import re

import numpy as np
import pytest

from kerasopt.schedules.cyclical import Cyclical
from tests.schedules import schedule_checks as checks


def smith(base, top, step_size, mode="triangular", gamma=1.0):
    """Smith 2017, Section 3.1 (the paper's listing), plus the triangular2/exp_range scales."""
    def lr(iteration):
        cycle = math.floor(1 + iteration / (2 * step_size))
        x = abs(iteration / step_size - 2 * cycle + 1)
        scale = {"triangular": 1.0, "triangular2": 1.0 / 2 ** (cycle - 1),
                 "exp_range": gamma**iteration}[mode]
        return base + (top - base) * max(0.0, 1 - x) * scale
    return lr


@pytest.mark.parametrize(
    "mode,gamma", [("triangular", 1.0), ("triangular2", 1.0), ("exp_range", 0.99),
                   ("exp_range", 1.0)]
)
def test_matches_paper(mode, gamma):
    lr = Cyclical(0.001, 0.006, 7, mode, gamma)
    # 70 steps = 5 full cycles.
    checks.check_trajectory(lr, smith(0.001, 0.006, 7, mode, gamma), 70)


def test_golden_values():
    # Hand-computed: triangle 0.1 -> 0.5 -> 0.1 with step_size 4; triangular2 halves the
    # second peak (step 12): 0.1 + 0.4 / 2 = 0.3; exp_range scales by 0.5 ** step.
    np.testing.assert_allclose(
        checks.eager(Cyclical(0.1, 0.5, 4), [0, 2, 4, 6, 8, 12]),
        [0.1, 0.3, 0.5, 0.3, 0.1, 0.5], rtol=1e-6)
    np.testing.assert_allclose(
        checks.eager(Cyclical(0.1, 0.5, 4, "triangular2"), [4, 12, 20]),
        [0.5, 0.3, 0.2], rtol=1e-6)
    np.testing.assert_allclose(
        checks.eager(Cyclical(0.1, 0.5, 4, "exp_range", 0.5), [1, 4]),
        [0.1 + 0.1 * 0.5, 0.1 + 0.4 * 0.5**4], rtol=1e-6)


@pytest.mark.parametrize(
    "kwargs,match",
    [
        (dict(initial_learning_rate=-0.1, maximal_learning_rate=0.1, step_size=2), "initial_learning_rate=-0.1"),
        (dict(initial_learning_rate=0.1, maximal_learning_rate=0.01, step_size=2), "`maximal_learning_rate` must be a number >= 0.1. Received: maximal_learning_rate=0.01"),
        (dict(initial_learning_rate=0.1, maximal_learning_rate=0.2, step_size=0), "`step_size` must be an integer >= 1. Received: step_size=0"),
        (dict(initial_learning_rate=0.1, maximal_learning_rate=0.2, step_size=2, mode="cosine"), "`mode` must be one of 'triangular', 'triangular2', 'exp_range'. Received: mode='cosine'"),
        (dict(initial_learning_rate=0.1, maximal_learning_rate=0.2, step_size=2, mode="exp_range", gamma=1.5), "`gamma` must be a number > 0.0 and <= 1.0. Received: gamma=1.5"),
        (dict(initial_learning_rate=0.1, maximal_learning_rate=0.2, step_size=2, gamma=0.9), "only used with mode='exp_range'"),
    ],
)
def test_validation(kwargs, match):
    with pytest.raises(ValueError, match=re.escape(match)):
        Cyclical(**kwargs)


def test_config_round_trip_and_registry():
    lr = Cyclical(0.001, 0.006, 7, "exp_range", 0.99, name="clr")
    checks.check_config_round_trip(lr)
    checks.check_registry(lr, "cyclical", "CyclicalLearningRate", "CLR")
    triangular = Cyclical(0.001, 0.006, 7)
    checks.check_registry(triangular, "TriangularCyclicalLearningRate")


@checks.KERAS_SAVE_WARNING
def test_fit_and_keras_file(tmp_path):
    lr = Cyclical(0.01, 0.05, 4, "triangular2")
    checks.check_fit_and_keras_file(lr, tmp_path, smith(0.01, 0.05, 4, "triangular2"))
