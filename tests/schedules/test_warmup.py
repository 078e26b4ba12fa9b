"""Tests for `kerasopt.schedules.warmup.Warmup`."""

from __future__ import annotations

import math
import re

import keras
import numpy as np
import pytest

from kerasopt.schedules.power import Power
from kerasopt.schedules.warmup import Warmup
from tests.schedules import schedule_checks as checks

PEAK, DECAY = 0.1, 40


def cosine(step: float) -> float:
    """Keras CosineDecay(PEAK, DECAY) re-derived: PEAK * (1 + cos(pi * min(step, D) / D)) / 2."""
    return PEAK * 0.5 * (1.0 + math.cos(math.pi * min(step, DECAY) / DECAY))


def reference(base, warmup, kind="linear", initial=0.0, power=1.0, offset=True):
    """Warmup written from the docstring's equations, independently of the implementation."""
    def lr(step: int) -> float:
        if warmup == 0:
            return base(step)
        target = base(0) if offset else base(warmup)
        if step >= warmup:
            return base(step - warmup) if offset else base(step)
        p = step / warmup
        if kind == "linear":
            return initial + (target - initial) * p
        if kind == "polynomial":
            return initial + (target - initial) * p**power
        return initial * math.exp(p * math.log(target / initial))
    return lr


def keras_cosine():
    return keras.optimizers.schedules.CosineDecay(PEAK, decay_steps=DECAY)


@pytest.mark.parametrize("offset", [True, False])
@pytest.mark.parametrize(
    "kind,initial,power",
    [("linear", 0.0, 1.0), ("linear", 0.02, 1.0), ("polynomial", 0.0, 2.0),
     ("polynomial", 0.01, 0.5), ("exponential", 0.001, 1.0)],
)
def test_wrapping_keras_cosine_matches_closed_form(offset, kind, initial, power):
    lr = Warmup(keras_cosine(), 10, kind, initial, power, offset_schedule=offset)
    # 0..70 covers warmup, the decay and 20 steps past its end.
    got = checks.check_trajectory(lr, reference(cosine, 10, kind, initial, power, offset), 70)
    assert got[0] == pytest.approx(initial)
    assert got[10] == pytest.approx(PEAK if offset else cosine(10), rel=1e-6)


def test_offset_choice_golden_values():
    # Hand-computed: offset -> peak 0.1 at step 10 and cosine(0.1, 40) from there;
    # no offset (Model Garden) -> ramp to cosine(10) = 0.05 * (1 + cos(pi/4)) = 0.0853553.
    with_offset = checks.eager(Warmup(keras_cosine(), 10), [5, 10, 30, 50])
    np.testing.assert_allclose(with_offset, [0.05, 0.1, 0.05, 0.0], atol=1e-7)
    without = checks.eager(Warmup(keras_cosine(), 10, offset_schedule=False), [5, 10, 30, 40])
    np.testing.assert_allclose(without, [0.0426777, 0.0853553, 0.0146447, 0.0], atol=1e-7)


def test_wrapping_a_constant_and_a_kerasopt_schedule():
    const = Warmup(0.5, 4)
    checks.check_trajectory(const, reference(lambda s: 0.5, 4), 10)
    power = Power(0.2, power=-0.5)
    lr = Warmup(power, 5, "polynomial", power=3.0)
    checks.check_trajectory(lr, reference(lambda s: 0.2 * max(s, 1) ** -0.5, 5, "polynomial",
                                          power=3.0), 40)


def test_zero_warmup_steps_is_the_wrapped_schedule():
    checks.check_trajectory(Warmup(keras_cosine(), 0), cosine, 45)


@pytest.mark.parametrize(
    "kwargs,match",
    [
        (dict(schedule=-0.1, warmup_steps=5), "`schedule` must be a number >= 0.0. Received: schedule=-0.1"),
        (dict(schedule="adam", warmup_steps=5), "Received: schedule='adam'"),
        (dict(schedule={"learning_rate": 0.1}, warmup_steps=5), "`class_name` key"),
        (dict(schedule=0.1, warmup_steps=-1), "`warmup_steps` must be an integer >= 0. Received: warmup_steps=-1"),
        (dict(schedule=0.1, warmup_steps=2.5), "warmup_steps=2.5"),
        (dict(schedule=0.1, warmup_steps=5, warmup_type="cosine"), "`warmup_type` must be one of 'linear', 'exponential', 'polynomial'. Received: warmup_type='cosine'"),
        (dict(schedule=0.1, warmup_steps=5, initial_learning_rate=-1.0), "initial_learning_rate=-1.0"),
        (dict(schedule=0.1, warmup_steps=5, warmup_type="polynomial", power=0.0), "`power` must be a number > 0.0"),
        (dict(schedule=0.1, warmup_steps=5, power=2.0), "only used with warmup_type='polynomial'"),
        (dict(schedule=0.1, warmup_steps=5, warmup_type="exponential"), "needs `initial_learning_rate` > 0"),
        (dict(schedule=0.1, warmup_steps=5, offset_schedule="yes"), "offset_schedule='yes'"),
        (dict(schedule=0.1, warmup_steps=5, name=""), "`name` must be a non-empty string"),
    ],
)
def test_validation(kwargs, match):
    with pytest.raises(ValueError, match=re.escape(match)):
        Warmup(**kwargs)


def test_config_round_trip_serializes_the_wrapped_schedule():
    lr = Warmup(keras_cosine(), 10, "polynomial", 0.01, 2.0, offset_schedule=False, name="wu")
    config = lr.get_config()
    assert config["schedule"]["class_name"] == "CosineDecay"
    checks.check_config_round_trip(lr)
    # Constants are kept exactly as given.
    assert Warmup(0.5, 3).get_config()["schedule"] == 0.5
    checks.check_config_round_trip(Warmup(0.5, 3))
    # A nested kerasopt schedule round-trips through its registered name.
    nested = Warmup(Power(0.2, power=-0.5), 5)
    assert nested.get_config()["schedule"]["registered_name"] == "kerasopt>Power"
    checks.check_config_round_trip(nested)


def test_recipe_spec_builds_nested_schedule():
    spec = {"type": "cosine_decay", "initial_learning_rate": PEAK, "decay_steps": DECAY}
    direct = Warmup(spec, 10)
    checks.check_trajectory(direct, reference(cosine, 10), 20)
    checks.check_registry(Warmup(keras_cosine(), 10), "warmup", "Warmup")


@checks.KERAS_SAVE_WARNING
def test_fit_and_keras_file(tmp_path):
    lr = Warmup(keras_cosine(), 10)
    checks.check_fit_and_keras_file(lr, tmp_path, reference(cosine, 10))
