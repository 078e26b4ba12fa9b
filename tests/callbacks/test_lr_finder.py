"""Tests of LRFinder and find_learning_rate (kerasopt/callbacks/lr_finder.py)."""

from __future__ import annotations

import json
import math

import keras
import numpy as np
import pytest
import tensorflow as tf

from kerasopt import registry
from kerasopt.callbacks.lr_finder import LRFinder, find_learning_rate


def _tiny_model(optimizer: keras.optimizers.Optimizer | None = None) -> keras.Model:
    model = keras.Sequential([keras.Input((3,)), keras.layers.Dense(1)])
    model.compile(optimizer=optimizer or keras.optimizers.SGD(0.05), loss="mse")
    model.optimizer.build(model.trainable_variables)
    return model


def _drive(finder: LRFinder, losses: list[float]) -> None:
    """Run scripted batch losses through the hooks, as fit() would."""
    for i, loss in enumerate(losses):
        if finder.model.stop_training:
            break
        finder.on_train_batch_begin(i)
        finder.on_train_batch_end(i, {"loss": loss})


def _numpy_smoothed(losses: list[float], beta: float) -> list[float]:
    """Smith's smoothed loss re-derived: EMA with Adam-style bias correction."""
    avg, out = 0.0, []
    for i, loss in enumerate(losses):
        avg = beta * avg + (1 - beta) * loss
        out.append(avg / (1 - beta ** (i + 1)))
    return out


def test_config_round_trips():
    finder = LRFinder(min_lr=1e-5, max_lr=1.0, num_steps=30, smoothing=0.9,
                      divergence_factor=5.0, plot_path="a/b.png", verbose=1)
    config = finder.get_config()
    assert config == {"min_lr": 1e-5, "max_lr": 1.0, "num_steps": 30, "smoothing": 0.9,
                      "divergence_factor": 5.0, "plot_path": "a/b.png", "verbose": 1}
    assert LRFinder.from_config(config).get_config() == config
    rebuilt = keras.saving.deserialize_keras_object(keras.saving.serialize_keras_object(finder))
    assert isinstance(rebuilt, LRFinder) and rebuilt.get_config() == config
    built = registry.build("callback", {"type": "lr_finder", "num_steps": 30})
    assert isinstance(built, LRFinder) and built.num_steps == 30


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"min_lr": 0.0}, "`min_lr` must be a finite number > 0.0. Received: min_lr=0.0"),
        ({"min_lr": 1.0, "max_lr": 0.5}, "`max_lr` must be > `min_lr`"),
        ({"num_steps": 4}, "`num_steps` must be an integer >= 5. Received: num_steps=4"),
        ({"num_steps": 10.0}, "num_steps=10.0"),
        ({"smoothing": 1.0}, "`smoothing` must be .* < 1.0. Received: smoothing=1.0"),
        ({"divergence_factor": 1.0}, "`divergence_factor` must be a finite number > 1.0"),
        ({"plot_path": ""}, "`plot_path` must be a non-empty string or None"),
        ({"verbose": 2}, "`verbose` must be one of 0, 1. Received: verbose=2"),
    ],
)
def test_invalid_arguments_raise(kwargs, match):
    with pytest.raises(ValueError, match=match):
        LRFinder(**kwargs)


def test_hooks_sweep_exponentially_and_smooth_with_bias_correction():
    model = _tiny_model()
    finder = LRFinder(min_lr=1e-4, max_lr=1e-1, num_steps=7, smoothing=0.8,
                      divergence_factor=100.0)
    finder.set_model(model)
    finder.on_train_begin()
    losses = [5.0, 4.0, 3.5, 3.0, 2.0, 2.5, 1.0, 0.5]
    _drive(finder, losses)
    expected_lrs = [1e-4 * 1000 ** (i / 6) for i in range(7)]
    np.testing.assert_allclose(finder.lrs, expected_lrs, rtol=1e-12)
    np.testing.assert_allclose(finder.losses, _numpy_smoothed(losses[:7], 0.8), rtol=1e-12)
    assert finder.raw_losses == losses[:7]
    assert finder.done and model.stop_training  # stopped after exactly num_steps
    # The last lr set on the optimizer was the last of the sweep.
    np.testing.assert_allclose(float(model.optimizer.learning_rate.numpy()), 1e-1, rtol=1e-6)
    finder.on_train_end()
    assert float(model.optimizer.learning_rate.numpy()) == pytest.approx(0.05)


def test_stops_on_divergence_and_on_non_finite_loss():
    model = _tiny_model()
    finder = LRFinder(num_steps=50, smoothing=0.0, divergence_factor=4.0)
    finder.set_model(model)
    finder.on_train_begin()
    # smoothing=0: smoothed == raw. Best 1.0; 4.5 > 4 * 1.0 stops the sweep there.
    _drive(finder, [2.0, 1.0, 3.9, 4.5, 0.1, 0.1])
    assert finder.losses == [2.0, 1.0, 3.9, 4.5]
    finder.on_train_end()

    finder = LRFinder(num_steps=50, smoothing=0.0)
    finder.set_model(_tiny_model())
    finder.on_train_begin()
    _drive(finder, [2.0, 1.0, float("nan"), 0.5])
    assert finder.losses == [2.0, 1.0] and finder.done  # the NaN point is not recorded
    finder.on_train_end()


def test_suggestions_on_a_scripted_curve():
    finder = LRFinder(min_lr=1e-6, max_lr=1.0, num_steps=61, smoothing=0.0,
                      divergence_factor=1e9)
    finder.set_model(_tiny_model())
    finder.on_train_begin()
    log_lr = np.linspace(-6.0, 0.0, 61)
    # Flat, then a tanh drop centred at lr=1e-3 (steepest there), minimum at 1e-1, then up.
    curve = 2.0 - np.tanh(2.0 * (log_lr + 3.0)) + 3.0 * np.maximum(log_lr + 1.0, 0.0) ** 2
    _drive(finder, [float(v) for v in curve])
    finder.on_train_end()
    assert finder.suggestion_steepest == pytest.approx(1e-3, rel=1e-9)
    assert finder.lrs[int(np.argmin(curve))] == pytest.approx(1e-1, rel=1e-9)
    assert finder.suggestion_min_div10 == pytest.approx(1e-2, rel=1e-9)
    assert finder.suggestion == finder.suggestion_min_div10


def test_no_suggestion_before_a_sweep_and_steepest_needs_a_decrease():
    finder = LRFinder()
    assert finder.suggestion is None and finder.suggestion_steepest is None
    finder.set_model(_tiny_model())
    finder.on_train_begin()
    _drive(finder, [1.0 + 0.01 * i for i in range(30)])  # only rises
    assert finder.suggestion_steepest is None
    assert finder.suggestion_min_div10 is None  # was 1e-8: the first lr / 10, below min_lr
    assert "never fell 5% below" in finder.no_suggestion_reason


def test_flat_curve_gives_no_suggestion_and_says_why():
    """Issue 19 item 9: a flat curve suggested 3.5e-8, below min_lr=1e-7, with no warning."""
    finder = LRFinder(num_steps=200)
    finder.set_model(_tiny_model())
    finder.on_train_begin()
    noise = np.random.default_rng(0).normal(scale=1e-3, size=200)
    _drive(finder, [float(v) for v in 0.693 + noise])
    finder.on_train_end()
    assert finder.done and len(finder.losses) == 200
    assert finder.suggestion is None and finder.suggestion_steepest is None
    assert finder.no_suggestion_reason.startswith("the loss curve gave no usable minimum")
    assert "1e-07 to 10" in finder.no_suggestion_reason


def test_minimum_in_the_first_decade_gives_no_suggestion():
    finder = LRFinder(min_lr=1e-6, max_lr=1.0, num_steps=61, smoothing=0.0, divergence_factor=1e9)
    finder.set_model(_tiny_model())
    finder.on_train_begin()
    log_lr = np.linspace(-6.0, 0.0, 61)
    _drive(finder, [float(v) for v in 1.0 + (log_lr + 5.5) ** 2])  # minimum at 10**-5.5
    assert finder.suggestion is None
    assert "first decade" in finder.no_suggestion_reason and "min_lr=1e-06" in finder.no_suggestion_reason


@pytest.mark.parametrize("seed", range(20))
def test_suggestions_never_leave_the_sweep_range(seed):
    rng = np.random.default_rng(seed)
    finder = LRFinder(min_lr=1e-5, max_lr=1.0, num_steps=50, smoothing=float(rng.uniform(0, 0.95)),
                      divergence_factor=1e9)
    finder.set_model(_tiny_model())
    finder.on_train_begin()
    _drive(finder, [float(v) for v in np.abs(rng.normal(1.0, 0.5, size=50)).cumsum()[::-1]])
    for value in (finder.suggestion, finder.suggestion_steepest):
        assert value is None or 1e-5 <= value <= 1.0
    assert (finder.suggestion is None) is (finder.no_suggestion_reason is not None)


def test_state_dict_resume_continues_exactly():
    losses = [3.0, 2.5, 2.7, 2.0, 1.5, 1.7, 1.2, 1.1, 1.4, 0.9]
    original = LRFinder(num_steps=10, smoothing=0.7)
    original.set_model(_tiny_model())
    original.on_train_begin()
    _drive(original, losses[:4])
    state = json.loads(json.dumps(original.state_dict()))  # JSON-serializable
    resumed = LRFinder(num_steps=10, smoothing=0.7)
    resumed.load_state_dict(state)
    resumed.set_model(_tiny_model())
    resumed.on_train_begin()
    for finder in (original, resumed):
        for i, loss in enumerate(losses[4:], start=4):
            finder.on_train_batch_begin(i)
            finder.on_train_batch_end(i, {"loss": loss})
    assert resumed.losses == original.losses and resumed.lrs == original.lrs
    np.testing.assert_allclose(resumed.losses, _numpy_smoothed(losses, 0.7), rtol=1e-12)
    assert resumed.done and original.done


def test_requires_float_learning_rate_and_loss_in_logs():
    schedule = keras.optimizers.schedules.ExponentialDecay(0.1, 10, 0.5)
    finder = LRFinder()
    finder.set_model(_tiny_model(keras.optimizers.SGD(schedule)))
    with pytest.raises(ValueError, match="float `learning_rate`, not a schedule"):
        finder.on_train_begin()
    finder = LRFinder()
    finder.set_model(_tiny_model())
    finder.on_train_begin()
    finder.on_train_batch_begin(0)
    with pytest.raises(ValueError, match="logs hold no 'loss'"):
        finder.on_train_batch_end(0, {"accuracy": 1.0})


def _regression_problem() -> tuple[np.ndarray, np.ndarray, float]:
    """Least squares with known curvature: X^T X / n = diag(s^2), Hessian of MSE 2 X^T X / n."""
    rng = np.random.default_rng(0)
    n, scales = 64, np.array([2.0, 1.0, 0.5, 0.1])
    q, _ = np.linalg.qr(rng.normal(size=(n, scales.size)))
    x = (math.sqrt(n) * q * scales).astype("float32")
    y = (x @ rng.normal(size=(scales.size, 1))).astype("float32")
    np.testing.assert_allclose(x.T @ x / n, np.diag(scales**2), atol=1e-4)
    return x, y, 2.0 * float(scales.max()) ** 2  # L, the largest Hessian eigenvalue


def test_suggestion_is_stable_for_sgd_on_a_convex_problem():
    x, y, lipschitz = _regression_problem()  # plain GD is stable iff lr < 2 / L = 0.25
    model = keras.Sequential([keras.Input((4,)),
                              keras.layers.Dense(1, use_bias=False, kernel_initializer="zeros")])
    model.compile(optimizer=keras.optimizers.SGD(0.01), loss="mse")
    # Full batch every step (plain gradient descent), as an infinite tf.data stream.
    dataset = tf.data.Dataset.from_tensors((x, y)).repeat()
    finder = find_learning_rate(model, dataset, min_lr=1e-6, max_lr=10.0, num_steps=100)
    assert finder.done and len(finder.lrs) < 100  # the sweep diverged past 2/L and stopped
    assert max(finder.lrs) > 2.0 / lipschitz
    for suggestion in (finder.suggestion, finder.suggestion_steepest):
        assert 1e-3 / lipschitz < suggestion < 2.0 / lipschitz
    np.testing.assert_array_equal(model.get_weights()[0], np.zeros((4, 1), "float32"))
    assert float(model.optimizer.learning_rate.numpy()) == pytest.approx(0.01)


def test_fit_restores_weights_and_optimizer_variables_exactly(tmp_path):
    rng = np.random.default_rng(1)
    x = rng.normal(size=(48, 3)).astype("float32")
    y = rng.normal(size=(48, 1)).astype("float32")
    model = keras.Sequential([keras.Input((3,)), keras.layers.Dense(4, activation="relu"),
                              keras.layers.BatchNormalization(), keras.layers.Dense(1)])
    model.compile(optimizer=keras.optimizers.Adam(1e-3), loss="mse")
    model.fit(x, y, batch_size=16, epochs=1, verbose=0)  # non-trivial Adam moments
    weights = [np.array(w) for w in model.get_weights()]
    optimizer_values = [v.numpy().copy() for v in model.optimizer.variables]
    plot = tmp_path / "plots" / "lr.png"
    finder = LRFinder(min_lr=1e-4, max_lr=1.0, num_steps=12, plot_path=str(plot))
    history = model.fit(x, y, batch_size=16, epochs=20, verbose=0, callbacks=[finder])
    assert len(history.history["loss"]) == 4  # 3 batches per epoch: 12 steps, then stopped
    assert len(finder.lrs) == 12
    for before, after in zip(weights, model.get_weights(), strict=True):
        np.testing.assert_array_equal(before, after)
    for before, after in zip(optimizer_values, model.optimizer.variables, strict=True):
        np.testing.assert_array_equal(before, after.numpy())
    assert plot.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def _sweep(curve: np.ndarray, **kwargs) -> LRFinder:
    finder = LRFinder(min_lr=1e-6, max_lr=10.0, num_steps=len(curve), divergence_factor=1e9, **kwargs)
    finder.set_model(_tiny_model())
    finder.on_train_begin()
    _drive(finder, [float(v) for v in curve])
    finder.on_train_end()
    return finder


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_steepest_marker_is_robust_to_start_up_noise_and_divergence(seed):
    # A tanh drop centred at lr = 1e-3 and a steep blow-up past the minimum near 1e-1; the
    # noisy sweep adds sd 0.5 noise to the first 15 batches and sd 0.02 after. The known
    # answer is the marker of the noise-free sweep, re-derived here in NumPy: EMA with bias
    # correction, then the steepest central difference (window n // 25) between 10% of the
    # points and the minimum. With smoothing 0.98 the EMA lags the raw curve, so that answer
    # sits right of 1e-3 (about 4e-3).
    log_lr = np.linspace(-6.0, 1.0, 140)
    clean = 2.0 - np.tanh(1.5 * (log_lr + 3.0)) + 20.0 * np.maximum(log_lr + 1.0, 0.0) ** 2
    avg, smoothed = 0.0, []
    for i, value in enumerate(clean):
        avg = 0.98 * avg + 0.02 * value
        smoothed.append(avg / (1 - 0.98 ** (i + 1)))
    smoothed = np.asarray(smoothed)
    width, lo = 140 // 25, 140 // 10
    slopes = [(smoothed[min(139, i + width)] - smoothed[max(0, i - width)])
              / (log_lr[min(139, i + width)] - log_lr[max(0, i - width)])
              for i in range(lo, int(np.argmin(smoothed)) + 1)]
    expected = 10 ** log_lr[lo + int(np.argmin(slopes))]
    assert _sweep(clean).suggestion_steepest == pytest.approx(expected, rel=1e-9)
    assert 1e-3 < expected < 1e-2

    rng = np.random.default_rng(seed)
    noise = rng.normal(0.0, 0.02, 140)
    noise[:15] = rng.normal(0.0, 0.5, 15)
    noisy = _sweep(clean + noise)
    assert expected / 2 < noisy.suggestion_steepest < expected * 2
    assert noisy.suggestion_steepest < noisy.lrs[int(np.argmin(noisy.losses))]


def test_find_learning_rate_sweeps_in_place_of_a_schedule_and_gives_the_optimizer_back():
    import kerasopt.optimizers

    schedule = keras.optimizers.schedules.CosineDecay(0.01, decay_steps=100)
    optimizer = kerasopt.optimizers.Lookahead(kerasopt.optimizers.RAdam(schedule))
    model = _tiny_model(optimizer)
    x = np.random.default_rng(0).normal(size=(64, 3)).astype("float32")
    before = [w.copy() for w in model.get_weights()]
    finder = find_learning_rate(model, x, x[:, :1], batch_size=8, num_steps=20)
    assert len(finder.lrs) == 20 and "CosineDecay" in finder.note
    assert model.optimizer is optimizer
    for a, b in zip(before, model.get_weights(), strict=True):
        np.testing.assert_array_equal(a, b)
    model.fit(x, x[:, :1], batch_size=8, epochs=1, verbose=0)  # the schedule still trains
    assert int(optimizer.iterations.numpy()) == 8
