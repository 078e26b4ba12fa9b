"""Checks shared by the schedule tests: trajectories, compiled calls, config and `.keras` round trips."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import keras
import numpy as np
import pytest
import tensorflow as tf

from kerasopt.registry import build

# Keras 3.15's `model.save` converts TF variables with `np.array(x)`, which NumPy 2 flags
# (keras/src/backend/tensorflow/core.py); the saved file is correct, the warning is upstream.
KERAS_SAVE_WARNING = pytest.mark.filterwarnings(
    "ignore:__array__ implementation doesn't accept a copy keyword:DeprecationWarning"
)

RTOL = 1e-5
ATOL = 1e-8


def eager(schedule: Any, steps: Sequence[int]) -> np.ndarray:
    """The schedule at each step, called eagerly with a Python int."""
    return np.array([float(schedule(int(s))) for s in steps])


def compiled(schedule: Any, steps: Sequence[int]) -> np.ndarray:
    """The schedule at each step, called inside one `tf.function` with an int64 tensor step.

    This is how an optimizer calls it (`schedule(optimizer.iterations)`); the function is
    traced once.
    """
    fn = tf.function(lambda step: schedule(step))
    values = np.array([float(fn(tf.constant(s, tf.int64))) for s in steps])
    assert fn.experimental_get_tracing_count() == 1
    return values


def check_trajectory(schedule: Any, reference: Callable[[int], float], last: int) -> np.ndarray:
    """Compare steps 0..last (eager and compiled) with a NumPy/Python reference."""
    steps = list(range(last + 1))
    expected = np.array([reference(s) for s in steps], dtype=np.float64)
    got = eager(schedule, steps)
    np.testing.assert_allclose(got, expected, rtol=RTOL, atol=ATOL)
    np.testing.assert_allclose(compiled(schedule, steps), expected, rtol=RTOL, atol=ATOL)
    return got


def check_config_round_trip(schedule: Any, last: int = 50) -> None:
    """`from_config(get_config())` gives the same config and the same trajectory."""
    config = schedule.get_config()
    clone = type(schedule).from_config(config)
    assert clone.get_config() == config
    steps = range(last + 1)
    np.testing.assert_allclose(eager(clone, steps), eager(schedule, steps), rtol=0, atol=0)


def check_registry(schedule: Any, *names: str) -> None:
    """Each registered name builds the same class from a recipe spec with the same config."""
    config = schedule.get_config()
    for name in names:
        built = build("schedule", {"type": name, **config})
        assert type(built) is type(schedule)
        assert built.get_config() == config


def check_fit_and_keras_file(schedule: Any, tmp_path: Path, reference: Callable[[int], float]) -> None:
    """Train 6 steps with the schedule, check the rate, save `.keras`, load with safe_mode."""
    keras.utils.set_random_seed(0)
    model = keras.Sequential([keras.Input((3,)), keras.layers.Dense(1)])
    model.compile(optimizer=keras.optimizers.SGD(learning_rate=schedule), loss="mse")
    x = np.linspace(-1.0, 1.0, 24, dtype="float32").reshape(8, 3)
    y = x.sum(axis=1, keepdims=True)
    model.fit(x, y, batch_size=4, epochs=3, verbose=0, shuffle=False)
    assert int(model.optimizer.iterations) == 6
    np.testing.assert_allclose(float(model.optimizer.learning_rate), reference(6),
                               rtol=RTOL, atol=ATOL)
    path = tmp_path / "model.keras"
    model.save(path)
    loaded = keras.saving.load_model(path, safe_mode=True)
    inner = loaded.optimizer._learning_rate
    assert type(inner) is type(schedule)
    assert inner.get_config() == schedule.get_config()
    assert int(loaded.optimizer.iterations) == 6
    np.testing.assert_allclose(float(loaded.optimizer.learning_rate), reference(6),
                               rtol=RTOL, atol=ATOL)
