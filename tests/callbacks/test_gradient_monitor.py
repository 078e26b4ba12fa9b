"""Tests of GradientMonitor (kerasopt/callbacks/gradient_monitor.py)."""

from __future__ import annotations

import json
import os

import keras
import numpy as np
import pytest

from kerasopt import registry
from kerasopt.callbacks.gradient_monitor import GradientMonitor

RNG = np.random.default_rng(0)
X = RNG.normal(size=(32, 8)).astype("float32")
Y = RNG.normal(size=(32, 1)).astype("float32")


def _mlp(depth: int, activation: str, stddev: float | None) -> keras.Model:
    def init(i: int) -> keras.initializers.Initializer:
        if stddev is None:
            return keras.initializers.GlorotUniform(seed=i)
        return keras.initializers.RandomNormal(stddev=stddev, seed=i)

    layers = [keras.layers.Dense(16, activation=activation, kernel_initializer=init(i),
                                 name=f"hidden_{i}") for i in range(depth)]
    model = keras.Sequential([keras.Input((8,)), *layers,
                              keras.layers.Dense(1, kernel_initializer=init(99), name="out")])
    model.compile(optimizer=keras.optimizers.SGD(0.01), loss="mse")
    return model


def _fit(model: keras.Model, monitor: GradientMonitor, epochs: int = 2) -> keras.callbacks.History:
    monitor.set_probe(X, Y)
    return model.fit(X, Y, batch_size=8, epochs=epochs, verbose=0, callbacks=[monitor])


def test_config_round_trips():
    monitor = GradientMonitor(every_n_steps=5, log_dir="logs", histograms=True,
                              vanishing_threshold=1e-6, exploding_threshold=10.0, patience=2,
                              clip_percentile=90.0)
    config = monitor.get_config()
    assert config == {"every_n_steps": 5, "log_dir": "logs", "histograms": True,
                      "vanishing_threshold": 1e-6, "exploding_threshold": 10.0, "patience": 2,
                      "clip_percentile": 90.0}
    assert GradientMonitor.from_config(config).get_config() == config
    rebuilt = keras.saving.deserialize_keras_object(keras.saving.serialize_keras_object(monitor))
    assert isinstance(rebuilt, GradientMonitor) and rebuilt.get_config() == config
    built = registry.build("callback", {"type": "gradient_monitor", "every_n_steps": 7})
    assert isinstance(built, GradientMonitor) and built.every_n_steps == 7


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"every_n_steps": 0}, "`every_n_steps` must be an integer >= 1. Received: every_n_steps=0"),
        ({"histograms": "yes"}, "`histograms` must be one of False, True"),
        ({"vanishing_threshold": -1.0}, "`vanishing_threshold` must be a finite number > 0.0"),
        ({"exploding_threshold": 1e-8}, "`exploding_threshold` must be a finite number > 1e-07"),
        ({"patience": 0}, "`patience` must be an integer >= 1"),
        ({"clip_percentile": 0.0}, "`clip_percentile` must be a finite number > 0.0 and <= 100.0"),
        ({"log_dir": 3}, "`log_dir` must be a non-empty string or None. Received: log_dir=3"),
    ],
)
def test_invalid_arguments_raise(kwargs, match):
    with pytest.raises(ValueError, match=match):
        GradientMonitor(**kwargs)


def test_deep_sigmoid_net_with_small_init_is_flagged_vanishing_in_early_layers():
    model = _mlp(20, "sigmoid", 0.01)
    monitor = GradientMonitor(every_n_steps=2, patience=2)
    with pytest.warns(UserWarning, match=r"vanishing gradients at step 2 in layers \['hidden_0'"):
        _fit(model, monitor)
    names = [layer.name for layer in model.layers]
    flagged = monitor.vanishing_layers
    # Each layer back-propagates a factor ~ 0.25 * 0.01 * 4: the early layers vanish.
    assert len(flagged) >= 10 and flagged == names[: len(flagged)]
    assert "out" not in flagged and monitor.exploding_layers == []
    assert monitor.latest["hidden_0"]["grad_norm"] < 1e-7 < monitor.latest["out"]["grad_norm"]


def test_large_init_net_is_flagged_exploding():
    model = _mlp(6, "linear", 3.0)
    monitor = GradientMonitor(every_n_steps=2)
    with pytest.warns(UserWarning, match=r"exploding gradients at step 0 in layers \['hidden_0'"):
        _fit(model, monitor, epochs=1)
    assert "hidden_0" in monitor.exploding_layers and monitor.vanishing_layers == []


def test_healthy_net_is_flagged_neither_and_logs_epoch_values():
    model = _mlp(3, "relu", None)
    monitor = GradientMonitor(every_n_steps=3, patience=1)
    history = _fit(model, monitor)  # warnings are errors: no warning may be raised
    assert monitor.vanishing_layers == [] and monitor.exploding_layers == []
    assert monitor.step == 8 and len(monitor.norm_history) == 3  # checks at steps 0, 3, 6
    norms = [v["grad_norm"] for v in monitor.latest.values()]
    assert history.history["grad_norm"][-1] == pytest.approx(np.sqrt(np.sum(np.square(norms))))
    assert history.history["grad_norm_min_layer"][-1] == pytest.approx(min(norms))


def _linear_model() -> keras.Model:
    model = keras.Sequential([keras.Input((8,)), keras.layers.Dense(1, name="lin")])
    model.compile(optimizer=keras.optimizers.SGD(1.0), loss="mse")
    model.set_weights([RNG.normal(size=(8, 1)).astype("float32"), np.array([0.5], "float32")])
    return model


def test_norms_and_update_ratio_match_closed_forms():
    model = _linear_model()
    monitor = GradientMonitor(every_n_steps=4)
    monitor.set_probe(X, Y)
    monitor.set_model(model)
    monitor.on_train_begin()
    kernel, bias = model.get_weights()
    residual = X @ kernel + bias - Y  # d mean(r^2) / dW = 2/n X^T r, / db = 2/n sum(r)
    grad = np.concatenate([2.0 / len(X) * X.T @ residual, [[2.0 / len(X) * residual.sum()]]])
    entry = monitor.latest["lin"]
    assert entry["grad_norm"] == pytest.approx(np.linalg.norm(grad), rel=1e-5)
    assert entry["weight_norm"] == pytest.approx(np.linalg.norm(np.append(kernel, bias)), rel=1e-6)
    assert "update_ratio" not in entry  # first check: nothing to compare with
    delta = np.full((8, 1), 0.1, "float32")
    model.set_weights([kernel + delta, bias])
    monitor.on_epoch_begin(0)
    for batch in range(5):  # batch 4 begins after 4 completed steps: the second check
        monitor.on_train_batch_begin(batch)
    new_norm = np.linalg.norm(np.append(kernel + delta, bias))
    expected = np.linalg.norm(delta) / 4 / new_norm  # ||w_t - w_{t-k}|| / k / ||w_t||
    assert monitor.latest["lin"]["update_ratio"] == pytest.approx(expected, rel=1e-5)


def test_probe_pass_leaves_model_state_untouched():
    model = keras.Sequential([keras.Input((8,)), keras.layers.Dense(8),
                              keras.layers.BatchNormalization(), keras.layers.Dropout(0.5),
                              keras.layers.Dense(1)])
    model.compile(optimizer="sgd", loss="mse", metrics=["mae"])
    model.fit(X, Y, batch_size=16, epochs=1, verbose=0)
    before = [v.numpy().copy() for v in model.variables + model.metrics_variables]
    monitor = GradientMonitor()
    monitor.set_probe(X, Y)
    monitor.set_model(model)
    monitor.on_train_begin()
    after = [v.numpy() for v in model.variables + model.metrics_variables]
    for a, b in zip(before, after, strict=True):
        np.testing.assert_array_equal(a, b)


def test_autoclip_sets_global_clipnorm_to_the_percentile_and_it_takes_effect():
    model = _linear_model()
    monitor = GradientMonitor(every_n_steps=1, clip_percentile=50.0)
    monitor.set_probe(X, Y)
    model.fit(X, Y, batch_size=32, epochs=3, verbose=0, callbacks=[monitor])
    assert len(monitor.norm_history) == 3  # at train begin, and before steps 2 and 3
    assert model.optimizer.global_clipnorm == monitor.clipnorm
    # The threshold follows the percentile unless it moved by <= 10% (no retrace then).
    assert abs(monitor.clipnorm - np.percentile(monitor.norm_history, 50.0)) <= 0.1 * monitor.clipnorm
    # SGD(lr=1) is unstable here (lr > 2 / lambda_max), so the gradient grows past the
    # threshold; the rebuilt train step clips a full-batch step to exactly `clipnorm`.
    kernel, bias = model.get_weights()
    residual = X @ kernel + bias - Y
    gradient = np.linalg.norm(np.append(2 / len(X) * X.T @ residual, 2 / len(X) * residual.sum()))
    assert gradient > monitor.clipnorm
    before = np.append(kernel, bias)
    model.fit(X, Y, batch_size=32, epochs=1, verbose=0)
    moved = np.linalg.norm(np.concatenate([w.ravel() for w in model.get_weights()]) - before)
    assert moved == pytest.approx(monitor.clipnorm, rel=1e-4)


def test_autoclip_rejects_optimizer_clipnorm_and_missing_probe_raises():
    model = _linear_model()
    model.compile(optimizer=keras.optimizers.SGD(0.1, clipnorm=1.0), loss="mse")
    monitor = GradientMonitor(clip_percentile=10.0)
    with pytest.raises(ValueError, match="GradientMonitor has no probe batch"):
        monitor.set_model(model)
    monitor.set_probe(X, Y)
    monitor.set_model(model)
    with pytest.raises(ValueError, match="optimizer with clipnorm=1.0"):
        monitor.on_train_begin()


def test_state_dict_resume_continues_exactly():
    model = _mlp(20, "sigmoid", 0.01)
    original = GradientMonitor(every_n_steps=1, patience=3, clip_percentile=75.0)
    original.set_probe(X, Y)
    original.set_model(model)
    original.on_train_begin()
    original.on_epoch_begin(0)
    original.on_train_batch_begin(0)
    original.on_train_batch_begin(1)  # two checks (steps 0, 1): counts at 2, below patience 3
    state = json.loads(json.dumps(original.state_dict()))
    resumed = GradientMonitor(every_n_steps=1, patience=3, clip_percentile=75.0)
    resumed.load_state_dict(state)
    assert resumed.state_dict() == state
    resumed.set_probe(X, Y)
    resumed.set_model(model)
    for monitor in (original, resumed):  # a new fit() of each: its first check is the third
        with pytest.warns(UserWarning, match="vanishing gradients at step 1"):
            monitor.on_train_begin()
    assert resumed.vanishing_layers == original.vanishing_layers != []
    assert resumed.norm_history == original.norm_history
    assert resumed.clipnorm == original.clipnorm


def test_tensorboard_scalars_and_histograms_are_written(tmp_path):
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    model = _linear_model()
    monitor = GradientMonitor(every_n_steps=2, log_dir=str(tmp_path), histograms=True)
    _fit(model, monitor, epochs=1)
    folder = tmp_path / "train"
    assert os.listdir(folder)
    events = EventAccumulator(str(folder), size_guidance={"tensors": 0})
    events.Reload()
    tags = set(events.Tags()["tensors"])
    assert {"grad_norm/global", "grad_norm/lin", "weight_norm/lin", "update_ratio/lin",
            "gradients/lin/kernel", "gradients/lin/bias"} <= tags
    steps = [e.step for e in events.Tensors("grad_norm/global")]
    assert steps == [0, 2]  # at train begin, and when batch 2 begins (4 steps, every 2)


def test_missing_probe_is_refused_before_any_callback_starts(tmp_path):
    """Issue 19 item 9: without a probe the monitor failed in its own `on_train_begin`,
    after a TensorBoard listed before it had opened its writers (left entered, and its
    log folder written)."""
    from kerasopt.callbacks import TensorBoard

    model = _linear_model()
    model.compile(optimizer=keras.optimizers.SGD(0.1), loss="mse")
    before = [w.copy() for w in model.get_weights()]
    board = TensorBoard(str(tmp_path / "logs"), update_freq=2, write_graph=False)
    with pytest.raises(ValueError, match=r"no probe batch.*monitor\.set_probe\(x_train\[:128\]"):
        model.fit(X, Y, batch_size=32, epochs=1, verbose=0, callbacks=[board, GradientMonitor()])
    assert not (tmp_path / "logs").exists()
    assert board._prev_summary_state == []  # no writer left pushed as the default
    assert all(np.array_equal(a, b) for a, b in zip(before, model.get_weights(), strict=True))
