"""Tests of BatchSizeFinder and find_batch_size (kerasopt/callbacks/batch_size_finder.py)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap

import keras
import numpy as np
import pytest

from kerasopt.callbacks.batch_size_finder import BatchSizeFinder, find_batch_size

RNG = np.random.default_rng(0)
X = RNG.normal(size=(100, 4)).astype("float32")
Y = RNG.normal(size=(100, 1)).astype("float32")


def _model(learning_rate: float | keras.optimizers.schedules.LearningRateSchedule = 0.01):
    model = keras.Sequential([keras.Input((4,)), keras.layers.Dense(3), keras.layers.Dense(1)])
    model.compile(optimizer=keras.optimizers.Adam(learning_rate), loss="mse")
    return model


@pytest.fixture
def fake_memory(monkeypatch):
    """Replace the memory probe: 1000 bytes per sample, out of memory from `oom_at` on.

    The fake still trains one step, so the test also sees that the trials are undone.
    """
    seen: list[int] = []
    limits = {"oom_at": None}

    def measure(self, model, x, y, sample_weight):
        seen.append(len(x))
        model.train_on_batch(x, y)
        if limits["oom_at"] is not None and len(x) >= limits["oom_at"]:
            return None
        return 1000 * len(x)

    monkeypatch.setattr(BatchSizeFinder, "measure", measure)
    return seen, limits


def test_config_round_trips():
    finder = BatchSizeFinder(max_memory_bytes=2**20, start=4, max_batch_size=64,
                             scale_lr="sqrt", base_batch_size=16, steps_per_trial=3)
    config = finder.get_config()
    assert config == {"max_memory_bytes": 2**20, "start": 4, "max_batch_size": 64,
                      "scale_lr": "sqrt", "base_batch_size": 16, "steps_per_trial": 3}
    assert json.loads(json.dumps(config)) == config
    assert BatchSizeFinder.from_config(config).get_config() == config


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"max_memory_bytes": 0}, "`max_memory_bytes` must be an integer >= 1"),
        ({"start": 0}, "`start` must be an integer >= 1. Received: start=0"),
        ({"start": 64, "max_batch_size": 32}, "`max_batch_size` must be an integer >= 64"),
        ({"scale_lr": "quadratic"}, "`scale_lr` must be one of 'none', 'linear', 'sqrt'"),
        ({"scale_lr": "linear"}, "`base_batch_size` must be an integer >= 1 when scale_lr"),
        ({"steps_per_trial": 0}, "`steps_per_trial` must be an integer >= 1"),
    ],
)
def test_invalid_arguments_raise(kwargs, match):
    with pytest.raises(ValueError, match=match):
        BatchSizeFinder(**kwargs)


def test_cap_forces_known_answer_and_trials_are_undone(fake_memory):
    seen, _ = fake_memory
    model = _model()
    model.optimizer.build(model.trainable_variables)
    weights = [w.copy() for w in model.get_weights()]
    optimizer_values = [v.numpy().copy() for v in model.optimizer.variables]
    finder = BatchSizeFinder(max_memory_bytes=40_000, start=8)
    # 8, 16, 32 need 8k, 16k, 32k bytes <= 40k; 64 needs 64k: the largest that fits is 32.
    assert finder.find(model, X, Y) == 32 == finder.batch_size
    assert seen == [8, 16, 32, 64]
    assert [t["fits"] for t in finder.trials] == [True, True, True, False]
    assert [t["bytes"] for t in finder.trials] == [8000, 16000, 32000, 64000]
    for before, after in zip(weights, model.get_weights(), strict=True):
        np.testing.assert_array_equal(before, after)
    for before, after in zip(optimizer_values, model.optimizer.variables, strict=True):
        np.testing.assert_array_equal(before, after.numpy())
    assert finder.learning_rate is None


def test_stops_at_the_sample_count_and_at_out_of_memory(fake_memory):
    seen, limits = fake_memory
    assert find_batch_size(_model(), X, Y, max_memory_bytes=10**9, start=8) == 64  # 128 > 100
    assert seen == [8, 16, 32, 64]
    seen.clear()
    assert find_batch_size(_model(), X, Y, start=3, max_batch_size=20) == 12  # 3, 6, 12
    limits["oom_at"] = 16
    finder = BatchSizeFinder(max_memory_bytes=10**9, start=4)
    assert finder.find(_model(), X, Y) == 8
    assert finder.trials[-1] == {"batch_size": 16, "bytes": None, "fits": False}


def test_even_the_first_size_over_the_cap_raises(fake_memory):
    with pytest.raises(ValueError, match="Even batch_size=8 needs 8000 bytes, over max_memory"):
        BatchSizeFinder(max_memory_bytes=5000, start=8).find(_model(), X, Y)
    with pytest.raises(ValueError, match="needs at least `start`=128 samples"):
        BatchSizeFinder(start=128, max_batch_size=256).find(_model(), X, Y)


@pytest.mark.parametrize(("rule", "factor"), [("linear", 4.0), ("sqrt", 2.0)])
def test_learning_rate_scaling_rules(fake_memory, rule, factor):
    model = _model(0.01)
    finder = BatchSizeFinder(max_memory_bytes=40_000, start=8, scale_lr=rule, base_batch_size=8)
    assert finder.find(model, X, Y) == 32
    # Goyal et al. linear rule: lr * 32 / 8; square-root rule: lr * sqrt(32 / 8).
    expected = float(np.float32(0.01)) * factor
    assert finder.learning_rate == pytest.approx(expected, rel=1e-12)
    assert float(model.optimizer.learning_rate.numpy()) == pytest.approx(expected, rel=1e-6)


def test_scaling_needs_a_float_learning_rate(fake_memory):
    model = _model(keras.optimizers.schedules.ExponentialDecay(0.1, 10, 0.5))
    finder = BatchSizeFinder(scale_lr="linear", base_batch_size=8)
    with pytest.raises(ValueError, match="float `learning_rate`, not a schedule"):
        finder.find(model, X, Y)


def test_real_measurement_trains_and_restores():
    model = _model()
    model.optimizer.build(model.trainable_variables)
    weights = [w.copy() for w in model.get_weights()]
    finder = BatchSizeFinder(max_memory_bytes=2**40, start=16, max_batch_size=32)
    assert finder.find(model, X, Y) == 32
    assert all(t["bytes"] >= 0 for t in finder.trials) and len(finder.trials) == 2
    for before, after in zip(weights, model.get_weights(), strict=True):
        np.testing.assert_array_equal(before, after)


_REAL_RUN = textwrap.dedent("""
    import json
    import numpy as np
    import keras
    from kerasopt.callbacks.batch_size_finder import BatchSizeFinder

    x = np.random.default_rng(0).normal(size=(4096, 2048)).astype("float32")
    y = np.zeros((4096, 1), "float32")
    out = []
    for cap in (43 * 2**20, 2**31):  # small cap first: its trials retain little memory
        model = keras.Sequential([keras.Input((2048,)), keras.layers.Dense(32, "relu"),
                                  keras.layers.Dense(1)])
        model.compile(optimizer="adam", loss="mse")
        finder = BatchSizeFinder(max_memory_bytes=cap, start=64)
        out.append({"size": finder.find(model, x, y), "trials": finder.trials})
    print(json.dumps(out))
""")


def test_real_rss_measurement_chooses_larger_batches_under_a_larger_cap():
    # A fresh process, so the RSS baseline is not inflated by earlier tests' allocations.
    # Measured here (TF 2.21, 2 CPUs): batch 512 -> ~36 MiB, 1024 -> ~50 MiB (it includes
    # tracing and Adam's slots) in the first run, so the 43 MiB cap picks 512.
    env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="3", PYTHONPATH=os.getcwd())
    done = subprocess.run([sys.executable, "-c", _REAL_RUN], capture_output=True, text=True,
                          env=env, timeout=300, check=True)
    small, large = json.loads(done.stdout.strip().splitlines()[-1])
    assert 64 <= small["size"] < large["size"] == 4096
    assert small["trials"][-1]["bytes"] > 43 * 2**20  # the small cap stopped the doubling
    assert [t["batch_size"] for t in large["trials"]] == [64, 128, 256, 512, 1024, 2048, 4096]
