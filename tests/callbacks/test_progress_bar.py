"""Tests for `kerasopt.callbacks.progress_bar.ProgressBar`."""

from __future__ import annotations

import re

import keras
import numpy as np
import pytest

from kerasopt.callbacks.progress_bar import ProgressBar, format_duration, format_metrics
from kerasopt.registry import build


class FakeClock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


def driven(interactive, params):
    bar = ProgressBar(width=10, update_interval=0.1, interactive=interactive)
    bar._clock = clock = FakeClock()
    bar.set_params(params)
    bar.on_train_begin()
    return bar, clock


def test_terminal_redraws_in_place_with_eta(capsys):
    bar, clock = driven(True, {"epochs": 2, "steps": 10})
    bar.on_epoch_begin(0)
    clock.now = 1.0
    bar.on_train_batch_end(0, {"loss": 0.5})
    clock.now = 1.05  # within update_interval: not redrawn
    bar.on_train_batch_end(1, {"loss": 0.4})
    clock.now = 5.0
    bar.on_train_batch_end(4, {"loss": 0.25})
    clock.now = 10.0
    bar.on_epoch_end(0, {"loss": 0.125, "val_loss": 0.00025})
    out = capsys.readouterr().out
    first = "Epoch 1/2 1/10 [=>........] ETA: 9s - loss: 0.5000"
    second = "Epoch 1/2 5/10 [=====>....] ETA: 5s - loss: 0.2500"
    # The epoch ends after 5 of 10 steps (as when TimeStopping stops it): the bar says so.
    final = "Epoch 1/2 5/10 [=====.....] 10s 2000ms/step - loss: 0.1250 - val_loss: 2.5000e-04"
    assert out == "\r" + first + "\r" + second + "\r" + final + "\n"


def test_shorter_line_is_padded_over_the_previous_one(capsys):
    bar, clock = driven(True, {"epochs": 1, "steps": 4})
    bar.on_epoch_begin(0)
    clock.now = 1.0
    bar.on_train_batch_end(0, {"loss": 0.5, "a_long_metric_name": 1.0})
    clock.now = 2.0
    bar.on_train_batch_end(1, {"loss": 0.5})
    out = capsys.readouterr().out
    lines = out.split("\r")[1:]
    assert len(lines[1]) == len(lines[0])  # trailing spaces erase the longer line
    assert lines[1].rstrip() == "Epoch 1/1 2/4 [=====>....] ETA: 2s - loss: 0.5000"


def test_not_a_tty_prints_one_line_per_epoch(capsys):
    bar, clock = driven(None, {"epochs": 3, "steps": None})  # capsys's stdout is no TTY
    for epoch in range(2):
        bar.on_epoch_begin(epoch)
        for batch in range(3):
            clock.now += 0.5
            bar.on_train_batch_end(batch, {"loss": 1.0})
        bar.on_epoch_end(epoch, {"loss": 1.0})
    out = capsys.readouterr().out
    assert "\r" not in out
    # The first epoch's length is unknown until it ends (Keras passed steps=None).
    assert out.splitlines() == [
        "Epoch 1/3 3/3 [==========] 2s 500ms/step - loss: 1.0000",
        "Epoch 2/3 3/3 [==========] 2s 500ms/step - loss: 1.0000",
    ]


def test_unknown_length_shows_a_count_without_eta(capsys):
    bar, clock = driven(True, {"epochs": 1, "steps": None})
    bar.on_epoch_begin(0)
    clock.now = 2.0
    bar.on_train_batch_end(6, {"loss": 1.0})
    assert capsys.readouterr().out == "\rEpoch 1/1 7/? 2s - loss: 1.0000"


def test_formatting_helpers():
    assert [format_duration(s) for s in (0, 59.4, 61, 3723)] == ["0s", "59s", "1:01", "1:02:03"]
    assert format_metrics({"loss": 2.0, "tiny": 1e-5, "zero": 0.0, "name": "x"}) == (
        " - loss: 2.0000 - tiny: 1.0000e-05 - zero: 0.0000")


@pytest.mark.parametrize(
    "kwargs,match",
    [
        (dict(width=0), "`width` must be an integer >= 1. Received: width=0"),
        (dict(update_interval=-1.0), "`update_interval` must be a finite number >= 0.0. Received: update_interval=-1.0"),
        (dict(interactive="auto"), "interactive='auto'"),
    ],
)
def test_validation(kwargs, match):
    with pytest.raises(ValueError, match=re.escape(match)):
        ProgressBar(**kwargs)


def test_config_round_trip_and_registry():
    bar = ProgressBar(width=12, update_interval=0.5, interactive=False)
    config = bar.get_config()
    assert config == {"width": 12, "update_interval": 0.5, "interactive": False}
    assert ProgressBar.from_config(config).get_config() == config
    built = build("callback", {"type": "progress_bar", **config})
    assert isinstance(built, ProgressBar) and built.get_config() == config


def test_fit_prints_each_epoch_with_validation_metrics(capsys):
    model = keras.Sequential([keras.Input((2,)), keras.layers.Dense(1)])
    model.compile(optimizer="sgd", loss="mse", metrics=["mae"])
    x = np.ones((8, 2), dtype="float32")
    model.fit(x, x[:, :1], batch_size=2, epochs=2, verbose=0, validation_data=(x, x[:, :1]),
              callbacks=[ProgressBar(width=4)])
    lines = capsys.readouterr().out.splitlines()
    assert len(lines) == 2
    for epoch, line in enumerate(lines, start=1):
        assert re.fullmatch(
            rf"Epoch {epoch}/2 4/4 \[====\] \d+s \d+ms/step - loss: \S+ - mae: \S+"
            r" - val_loss: \S+ - val_mae: \S+", line), line
