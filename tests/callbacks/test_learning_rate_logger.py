"""Tests for `kerasopt.callbacks.learning_rate_logger.LearningRateLogger`."""

from __future__ import annotations

import glob
import os
import re
import types

import keras
import numpy as np
import pytest
import tensorflow as tf

from kerasopt.callbacks.learning_rate_logger import LearningRateLogger, learning_rate_tags
from kerasopt.registry import build


def schedule():
    # lr(step) = 0.1 * 0.5 ** (step / 4): every step has a distinct, known value.
    return keras.optimizers.schedules.ExponentialDecay(0.1, decay_steps=4, decay_rate=0.5)


def expected(step):
    return 0.1 * 0.5 ** (step / 4)


def tiny_model(optimizer):
    model = keras.Sequential([keras.Input((2,)), keras.layers.Dense(1)])
    model.compile(optimizer=optimizer, loss="mse")
    model.optimizer.build(model.trainable_variables)
    return model


def read_scalars(log_dir):
    """{tag: [(step, value), ...]} from the event files under <log_dir>/train."""
    found = {}
    for path in sorted(glob.glob(os.path.join(log_dir, "train", "events.out.tfevents.*"))):
        for event in tf.compat.v1.train.summary_iterator(path):
            for value in event.summary.value:
                found.setdefault(value.tag, []).append(
                    (event.step, float(tf.make_ndarray(value.tensor))))
    return found


def test_epoch_end_adds_the_scheduled_rate_to_logs():
    model = tiny_model(keras.optimizers.SGD(schedule()))
    callback = LearningRateLogger()
    callback.set_model(model)
    callback.on_train_begin()
    model.optimizer.iterations.assign(6)
    logs = {"loss": 1.0}
    callback.on_epoch_end(0, logs)
    assert logs["loss"] == 1.0
    assert logs["learning_rate"] == pytest.approx(expected(6), rel=1e-6)


def test_wrapper_optimizers_get_one_tag_per_inner_optimizer():
    adam = keras.optimizers.Adam(0.01, name="head")
    body = keras.optimizers.SGD(schedule(), name="body")
    multi = keras.optimizers.MultiOptimizer(keras.optimizers.OptimizerMap(body, {"never": adam}))
    assert [tag for tag, _ in learning_rate_tags(multi)] == ["learning_rate/head",
                                                              "learning_rate/body"]
    model = tiny_model(multi)
    callback = LearningRateLogger()
    callback.set_model(model)
    logs = {}
    callback.on_epoch_end(0, logs)
    assert logs == pytest.approx({"learning_rate/head": 0.01, "learning_rate/body": 0.1})

    # A loss-scale wrapper (`inner_optimizer`) has a single rate: the inner one.
    scaled = keras.optimizers.LossScaleOptimizer(keras.optimizers.SGD(schedule()))
    assert [tag for tag, opt in learning_rate_tags(scaled)] == ["learning_rate"]
    # Lookahead-style wrappers hold `optimizer`; repeated names get their index.
    lookahead = types.SimpleNamespace(optimizer=keras.optimizers.SGD(0.3, name="sgd"))
    pair = types.SimpleNamespace(optimizers=[lookahead, keras.optimizers.SGD(0.2, name="sgd")])
    assert [(tag, float(opt.learning_rate)) for tag, opt in learning_rate_tags(pair)] == [
        ("learning_rate/sgd_0", pytest.approx(0.3)), ("learning_rate/sgd_1", pytest.approx(0.2))]


def test_tensorboard_every_n_steps_and_epoch_end(tmp_path):
    model = tiny_model(keras.optimizers.SGD(schedule()))
    callback = LearningRateLogger(log_dir=str(tmp_path), every_n_steps=2)
    callback.set_model(model)
    callback.on_train_begin()
    callback.on_epoch_begin(0)
    for batch in range(5):  # steps 1..5: writes at 2 and 4, then 5 at the epoch end
        model.optimizer.iterations.assign(batch + 1)
        callback.on_train_batch_end(batch)
    callback.on_epoch_end(0, {})
    callback.on_epoch_begin(1)
    # steps_per_execution=3: batch ends at steps 8 and 11 cross the multiples 6 and 10.
    for batch in (2, 5):
        model.optimizer.iterations.assign(5 + batch + 1)
        callback.on_train_batch_end(batch)
    callback.on_train_end()
    scalars = read_scalars(str(tmp_path))
    steps = [2, 4, 5, 8, 11]
    assert [s for s, _ in scalars["learning_rate"]] == steps
    np.testing.assert_allclose([v for _, v in scalars["learning_rate"]],
                               [expected(s) for s in steps], rtol=1e-6)


@pytest.mark.parametrize(
    "kwargs,match",
    [
        (dict(every_n_steps=0), "`every_n_steps` must be an integer >= 1. Received: every_n_steps=0"),
        (dict(every_n_steps=2.0), "every_n_steps=2.0"),
        (dict(log_dir=""), "`log_dir` must be a non-empty string or None. Received: log_dir=''"),
    ],
)
def test_validation(kwargs, match):
    with pytest.raises(ValueError, match=re.escape(match)):
        LearningRateLogger(**kwargs)


def test_config_round_trip_and_registry():
    callback = LearningRateLogger(log_dir="runs/x", every_n_steps=7)
    config = callback.get_config()
    assert config == {"log_dir": "runs/x", "every_n_steps": 7}
    assert LearningRateLogger.from_config(config).get_config() == config
    built = build("callback", {"type": "learning_rate_logger", **config})
    assert isinstance(built, LearningRateLogger) and built.get_config() == config
    assert LearningRateLogger(every_n_steps=None).get_config()["every_n_steps"] is None


def test_fit_logs_and_a_resumed_fit_continues_the_steps(tmp_path):
    model = keras.Sequential([keras.Input((2,)), keras.layers.Dense(1)])
    model.compile(optimizer=keras.optimizers.SGD(schedule()), loss="mse")
    x = np.linspace(0, 1, 16, dtype="float32").reshape(8, 2)
    history = model.fit(x, x[:, :1], batch_size=2, epochs=2, verbose=0,
                        callbacks=[LearningRateLogger(str(tmp_path), every_n_steps=3)])
    np.testing.assert_allclose(history.history["learning_rate"], [expected(4), expected(8)],
                               rtol=1e-6)
    # A new logger on the trained model (as after a resume) counts from iterations = 8.
    history = model.fit(x, x[:, :1], batch_size=2, epochs=3, initial_epoch=2, verbose=0,
                        callbacks=[LearningRateLogger(str(tmp_path), every_n_steps=3)])
    np.testing.assert_allclose(history.history["learning_rate"], [expected(12)], rtol=1e-6)
    steps = [s for s, _ in read_scalars(str(tmp_path))["learning_rate"]]
    assert steps == [3, 4, 6, 8, 9, 12]
