"""Tests of `OverfittingMonitor`: the gap, patience, actions, TensorBoard, resume, fit()."""

import json
import warnings

import keras
import numpy as np
import pytest

from kerasopt import registry
from kerasopt.callbacks.overfitting_monitor import OverfittingMonitor


class _Stub(keras.Model):
    stop_training = False


def _drive(callback, rows, train_key="loss", val_key="val_loss"):
    """Feed (train, val) pairs as epoch logs; return the logs dicts as the callback left them."""
    callback.set_model(_Stub())
    callback.on_train_begin()
    seen = []
    for epoch, (train, val) in enumerate(rows):
        logs = {train_key: train} if val is None else {train_key: train, val_key: val}
        callback.on_epoch_end(epoch, logs)
        seen.append(logs)
        if callback.model.stop_training:
            break
    callback.on_train_end()
    return seen


def test_relative_gap_of_a_loss_is_added_to_logs():
    monitor = OverfittingMonitor(max_gap=10.0)
    logs = _drive(monitor, [(1.0, 1.1), (0.5, 1.0), (0.2, 0.1)])
    # (val - train) / |train|
    assert [entry["overfitting_gap"] for entry in logs] == pytest.approx([0.1, 1.0, -0.5])
    assert monitor.gaps == pytest.approx([0.1, 1.0, -0.5])


def test_absolute_gap_of_an_accuracy_is_train_minus_val():
    monitor = OverfittingMonitor("accuracy", "val_accuracy", relative=False, max_gap=1.0)
    logs = _drive(monitor, [(0.9, 0.7), (0.99, 0.6)], "accuracy", "val_accuracy")
    assert [entry["overfitting_gap"] for entry in logs] == pytest.approx([0.2, 0.39])


def test_warns_once_per_streak_after_patience():
    monitor = OverfittingMonitor(max_gap=0.5, patience=2)
    rows = [(1.0, 1.2), (1.0, 1.6), (1.0, 1.7), (1.0, 1.8), (1.0, 1.1), (1.0, 1.9), (1.0, 2.0)]
    with pytest.warns(UserWarning, match="overfitting") as record:
        _drive(monitor, rows)
    # Gaps 0.2, 0.6, 0.7, 0.8, 0.1, 0.9, 1.0: streaks reach patience 2 at epochs 2 and 6.
    assert [str(w.message)[:8] for w in record] == ["Epoch 3:", "Epoch 7:"]
    assert "gap between val_loss (1.7) and loss (1) is 0.7 > max_gap=0.5" in str(record[0].message)
    assert monitor.overfit_epoch == 2 and monitor.wait == 2 and monitor.triggered


def test_stop_action_stops_training(capsys):
    monitor = OverfittingMonitor(max_gap=0.5, patience=2, action="stop")
    logs = _drive(monitor, [(1.0, 1.6), (1.0, 1.6), (1.0, 1.6), (1.0, 1.6)])
    assert len(logs) == 2 and monitor.model.stop_training
    assert "Stopping training" in capsys.readouterr().out


def test_epochs_without_validation_are_skipped():
    monitor = OverfittingMonitor(max_gap=0.5, patience=2)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        logs = _drive(monitor, [(1.0, 1.6), (1.0, None), (1.0, 1.0), (1.0, None), (1.0, 1.7)])
    assert "overfitting_gap" not in logs[1]
    assert monitor.gaps == pytest.approx([0.6, 0.0, 0.7]) and monitor.wait == 1


def test_missing_train_metric_raises():
    monitor = OverfittingMonitor(train_metric="acc", val_metric="val_acc")
    with pytest.raises(ValueError, match=r"monitors 'acc'.*Available keys: loss, val_loss"):
        _drive(monitor, [(1.0, 1.0)])


def test_state_dict_resume_continues_exactly():
    rows = [(1.0, 1.6), (1.0, 1.7), (1.0, 1.2), (1.0, 1.8), (1.0, 1.9), (1.0, 2.0)]
    whole = OverfittingMonitor(max_gap=0.5, patience=3, action="stop")
    _drive(whole, rows)
    first = OverfittingMonitor(max_gap=0.5, patience=3, action="stop")
    _drive(first, rows[:4])
    resumed = OverfittingMonitor.from_config(first.get_config())
    resumed.load_state_dict(json.loads(json.dumps(first.state_dict())))
    resumed.set_model(_Stub())
    resumed.on_train_begin()
    for epoch in range(4, len(rows)):
        resumed.on_epoch_end(epoch, {"loss": rows[epoch][0], "val_loss": rows[epoch][1]})
    assert resumed.state_dict() == whole.state_dict()
    assert resumed.overfit_epoch == 5 and resumed.model.stop_training


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"max_gap": -0.1}, r"`max_gap` must be a finite number >= 0. Received: max_gap=-0.1"),
        ({"patience": 0}, r"`patience` must be an integer >= 1. Received: patience=0"),
        ({"action": "raise"}, r"`action` must be one of 'warn', 'stop'. Received: action='raise'"),
        ({"relative": "yes"}, r"relative='yes'"),
        ({"train_metric": ""}, r"train_metric=''"),
        ({"val_metric": 3}, r"monitor=3"),
        ({"log_dir": ""}, r"`log_dir` must be None or a non-empty string"),
        ({"mode": "up"}, r"mode='up'"),
    ],
)
def test_invalid_arguments_raise(kwargs, match):
    with pytest.raises(ValueError, match=match):
        OverfittingMonitor(**kwargs)


def test_config_round_trips():
    monitor = OverfittingMonitor("acc", "val_acc", mode="max", max_gap=0.05, relative=False,
                                 patience=4, action="stop", log_dir="/tmp/logs")
    config = monitor.get_config()
    assert OverfittingMonitor.from_config(config).get_config() == config
    rebuilt = keras.saving.deserialize_keras_object(keras.saving.serialize_keras_object(monitor))
    assert type(rebuilt) is OverfittingMonitor and rebuilt.get_config() == config
    built = registry.build("callback", {"type": "overfitting_monitor", **config})
    assert type(built) is OverfittingMonitor and built.get_config() == config


def _scalars(folder):
    import tensorflow as tf

    values = {}
    for path in sorted(folder.iterdir()):
        for event in tf.compat.v1.train.summary_iterator(str(path)):
            for value in event.summary.value:
                values[event.step] = float(tf.make_ndarray(value.tensor))
    return values


def test_fit_on_noisy_data_detects_overfitting_and_logs_to_tensorboard(tmp_path):
    # 16 samples of pure-noise targets: a 64-unit MLP memorizes them, so the training loss
    # falls towards 0 while the loss on 16 other noise samples does not.
    rng = np.random.default_rng(0)
    x = rng.normal(size=(32, 8)).astype("float32")
    y = rng.normal(size=(32, 1)).astype("float32")
    keras.utils.set_random_seed(0)
    model = keras.Sequential([keras.Input((8,)), keras.layers.Dense(64, activation="relu"),
                              keras.layers.Dense(1)])
    model.compile(optimizer=keras.optimizers.Adam(0.01), loss="mse")
    monitor = OverfittingMonitor(max_gap=1.0, patience=3, action="stop", log_dir=str(tmp_path))
    history = model.fit(x[:16], y[:16], validation_data=(x[16:], y[16:]), batch_size=16,
                        epochs=300, callbacks=[monitor], verbose=0)
    loss, val_loss = np.array(history.history["loss"]), np.array(history.history["val_loss"])
    expected = (val_loss - loss) / np.abs(loss)
    np.testing.assert_allclose(history.history["overfitting_gap"], expected, rtol=1e-6)
    epochs = len(loss)
    assert epochs < 300 and monitor.model.stop_training
    assert monitor.overfit_epoch == epochs - 1
    assert np.all(expected[-3:] > 1.0) and not expected[-4] > 1.0
    logged = _scalars(tmp_path / "overfitting_monitor")
    assert sorted(logged) == list(range(epochs))
    np.testing.assert_allclose([logged[e] for e in range(epochs)], expected, rtol=1e-5)
