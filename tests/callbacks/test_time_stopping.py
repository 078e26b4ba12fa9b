"""Tests for `kerasopt.callbacks.time_stopping.TimeStopping`."""

from __future__ import annotations

import json
import re

import keras
import numpy as np
import pytest

from kerasopt.callbacks.time_stopping import TimeStopping
from kerasopt.registry import build


class FakeClock:
    """A settable stand-in for `time.monotonic`."""

    def __init__(self, now: float = 0.0) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


class StubModel:
    stop_training = False


def make(seconds=10.0, check="epoch", start=0.0):
    clock = FakeClock(start)
    callback = TimeStopping(seconds, check)
    callback._clock = clock
    model = StubModel()
    callback.set_model(model)
    callback.on_train_begin()
    return callback, clock, model


def test_epoch_check_stops_only_at_epoch_end():
    callback, clock, model = make(10.0, "epoch")
    callback.on_epoch_begin(0)
    clock.now = 5.0
    callback.on_epoch_end(0)
    assert not model.stop_training
    callback.on_epoch_begin(1)
    clock.now = 11.0
    callback.on_train_batch_end(3)
    assert not model.stop_training  # batches are not checked in "epoch" mode
    clock.now = 12.0
    callback.on_epoch_end(1)
    assert model.stop_training and callback.stopped_epoch == 1


def test_batch_check_stops_when_budget_reached():
    callback, clock, model = make(10.0, "batch")
    callback.on_epoch_begin(0)
    clock.now = 9.999
    callback.on_train_batch_end(0)
    assert not model.stop_training
    clock.now = 10.0
    callback.on_train_batch_end(1)
    assert model.stop_training and callback.stopped_epoch == 0
    assert callback.elapsed() == pytest.approx(10.0)


def test_restored_state_continues_the_budget():
    # The original run: 6 s used by the end of epoch 0, the budget (10 s) runs out at t=10.
    original, clock, model = make(10.0, "batch", start=100.0)
    original.on_epoch_begin(0)
    clock.now = 106.0
    original.on_epoch_end(0)
    state = json.loads(json.dumps(original.state_dict()))
    assert state == {"elapsed_seconds": 6.0, "stopped_epoch": None}

    # A resumed run restored from that state, started on another clock at t=500:
    # it gets the 4 s left, exactly where the original would have stopped.
    resumed = TimeStopping(10.0, "batch")
    resumed.load_state_dict(state)
    resumed._clock = FakeClock(500.0)
    resumed_model = StubModel()
    resumed.set_model(resumed_model)
    resumed.on_train_begin()
    resumed.on_epoch_begin(1)
    original.on_epoch_begin(1)
    for now_original, now_resumed in [(109.5, 503.5), (110.0, 504.0)]:
        clock.now, resumed._clock.now = now_original, now_resumed
        original.on_train_batch_end(0)
        resumed.on_train_batch_end(0)
        assert resumed_model.stop_training == model.stop_training
        assert resumed.state_dict() == original.state_dict()
    assert resumed_model.stop_training and resumed.stopped_epoch == 1


def test_on_train_end_keeps_the_used_time():
    callback, clock, _ = make(10.0)
    clock.now = 3.0
    callback.on_train_end()
    clock.now = 50.0  # time between fits does not count
    assert callback.state_dict()["elapsed_seconds"] == 3.0


@pytest.mark.parametrize(
    "kwargs,match",
    [
        (dict(seconds=0), "`seconds` must be a finite number > 0.0. Received: seconds=0"),
        (dict(seconds=float("inf")), "seconds=inf"),
        (dict(seconds="1h"), "seconds='1h'"),
        (dict(check="step"), "`check` must be one of 'batch', 'epoch'. Received: check='step'"),
        (dict(verbose=2), "verbose=2"),
    ],
)
def test_validation(kwargs, match):
    with pytest.raises(ValueError, match=re.escape(match)):
        TimeStopping(**kwargs)


def test_config_round_trip_and_registry():
    callback = TimeStopping(seconds=90.5, check="batch", verbose=1)
    config = callback.get_config()
    assert config == {"seconds": 90.5, "check": "batch", "verbose": 1}
    assert TimeStopping.from_config(config).get_config() == config
    built = build("callback", {"type": "time_stopping", **config})
    assert isinstance(built, TimeStopping) and built.get_config() == config


@pytest.mark.parametrize("check,steps", [("batch", 1), ("epoch", 4)])
def test_fit_stops(check, steps):
    # A 1 ns budget is used up by the first check: after one batch, or one epoch of 4.
    model = keras.Sequential([keras.Input((2,)), keras.layers.Dense(1)])
    model.compile(optimizer="sgd", loss="mse")
    x = np.ones((8, 2), dtype="float32")
    history = model.fit(x, x[:, :1], batch_size=2, epochs=5, verbose=0,
                        callbacks=[TimeStopping(1e-9, check)])
    assert len(history.epoch) == 1
    assert int(model.optimizer.iterations) == steps
