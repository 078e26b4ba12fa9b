"""Tests of `MonitorCallback`: mode, direction inference, min_delta and missing keys."""

import keras
import numpy as np
import pytest

from kerasopt.callbacks.monitor import MonitorCallback


@pytest.mark.parametrize(
    ("monitor", "expected"),
    [
        ("loss", "min"),
        ("val_loss", "min"),
        ("val_mean_squared_error", "min"),
        ("mae", "min"),
        ("hinge", "min"),
        ("acc", "max"),
        ("val_accuracy", "max"),
        ("sparse_categorical_accuracy", "max"),
        ("auc", "max"),
        ("val_precision", "max"),
        ("f1_score", "max"),
        ("r2_score", "max"),
        ("cosine_similarity", "max"),
    ],
)
def test_auto_mode_infers_direction_from_name(monitor, expected):
    assert MonitorCallback(monitor=monitor).direction == expected


def test_explicit_mode_wins_over_name():
    assert MonitorCallback(monitor="val_accuracy", mode="min").direction == "min"
    assert MonitorCallback(monitor="loss", mode="max").direction == "max"


def test_auto_mode_reads_the_compiled_metric_direction():
    # A metric whose name says nothing: Keras 3's `_direction` attribute decides.
    class Dice(keras.metrics.MeanMetricWrapper):
        def __init__(self):
            super().__init__(fn=lambda y_true, y_pred: -keras.ops.abs(y_true - y_pred), name="dice")
            self._direction = "up"

    model = keras.Sequential([keras.Input((2,)), keras.layers.Dense(1)])
    model.compile(optimizer="sgd", loss="mse", metrics=[Dice()])
    model.fit(np.zeros((4, 2)), np.zeros((4, 1)), epochs=1, verbose=0)
    callback = MonitorCallback(monitor="val_dice")
    callback.set_model(model)
    assert callback.direction == "max"
    assert MonitorCallback(monitor="val_dice").direction == "min"  # without the model


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"mode": "minimum"}, r"`mode` must be one of 'auto', 'min', 'max'. Received: mode='minimum'"),
        ({"min_delta": -0.1}, r"`min_delta` must be a finite number >= 0. Received: min_delta=-0.1"),
        ({"min_delta": float("nan")}, r"min_delta=nan"),
        ({"min_delta": True}, r"min_delta=True"),
        ({"min_delta_mode": "percent"}, r"`min_delta_mode` must be one of 'absolute', 'relative'"),
        ({"monitor": ""}, r"`monitor` must be a non-empty string. Received: monitor=''"),
        ({"monitor": None}, r"monitor=None"),
    ],
)
def test_invalid_arguments_raise(kwargs, match):
    with pytest.raises(ValueError, match=match):
        MonitorCallback(**kwargs)


def test_absolute_min_delta():
    low = MonitorCallback(monitor="loss", min_delta=0.1)
    assert low.is_improvement(1.0, None)
    assert low.is_improvement(0.89, 1.0)
    assert not low.is_improvement(0.91, 1.0)
    assert not low.is_improvement(float("nan"), None)
    high = MonitorCallback(monitor="accuracy", min_delta=0.1)
    assert high.is_improvement(0.61, 0.5)
    assert not high.is_improvement(0.59, 0.5)


def test_relative_min_delta_scales_with_best():
    low = MonitorCallback(monitor="loss", min_delta=0.1, min_delta_mode="relative")
    # best 10 -> must go below 9; best 0.1 -> below 0.09; best -2 -> below -2.2.
    assert low.is_improvement(8.99, 10.0) and not low.is_improvement(9.01, 10.0)
    assert low.is_improvement(0.0899, 0.1) and not low.is_improvement(0.0901, 0.1)
    assert low.is_improvement(-2.21, -2.0) and not low.is_improvement(-2.19, -2.0)
    high = MonitorCallback(monitor="val_acc", min_delta=0.5, min_delta_mode="relative")
    assert high.is_improvement(0.61, 0.4) and not high.is_improvement(0.59, 0.4)


def test_threshold_comparisons_follow_direction():
    low = MonitorCallback(monitor="loss")
    assert low.is_at_least(0.5, 0.5) and not low.is_at_least(0.6, 0.5)
    assert low.is_at_most(5.0, 5.0) and not low.is_at_most(4.0, 5.0)
    high = MonitorCallback(monitor="accuracy")
    assert high.is_at_least(0.9, 0.9) and not high.is_at_least(0.8, 0.9)
    assert high.is_at_most(0.1, 0.2) and not high.is_at_most(0.3, 0.2)


def test_missing_key_names_key_and_available_keys():
    callback = MonitorCallback(monitor="val_los")
    with pytest.raises(ValueError, match=r"monitors 'val_los'.*Available keys: loss, val_loss\.$"):
        callback.get_monitor_value({"loss": 1.0, "val_loss": 2.0})
    with pytest.raises(ValueError, match=r"Available keys: loss\..*validation_data"):
        MonitorCallback(monitor="val_loss").get_monitor_value({"loss": 1.0})


def test_epoch_without_validation_is_skipped_after_validation_was_seen():
    # fit(validation_freq=2): validation keys appear on every other epoch only.
    callback = MonitorCallback(monitor="val_loss")
    assert callback.get_monitor_value({"loss": 1.0, "val_loss": 2.5}) == 2.5
    assert callback.get_monitor_value({"loss": 0.9}) is None
    with pytest.raises(ValueError, match="'val_loss'"):
        callback.get_monitor_value({"loss": 0.9, "val_acc": 0.5})
    assert callback.get_monitor_value({"acc": np.float32(0.25)}, key="acc") == 0.25
