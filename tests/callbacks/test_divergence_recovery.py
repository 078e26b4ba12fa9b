"""Tests of `DivergenceRecovery`: roll-back, rate cuts (variable and schedule), stop, resume."""

import json

import keras
import numpy as np
import pytest

from kerasopt import registry
from kerasopt.callbacks.divergence_recovery import DivergenceRecovery


def _regression(learning_rate):
    """Least squares whose every batch has X^T X / 4 = I, so SGD maps w - w* to (1 - 2 lr)(w - w*).

    MSE = |w - w*|^2 and its gradient is 2 (w - w*): a rate above 1 diverges, the loss
    growing by (1 - 2 lr)^2 per step (x25 at 3.0, x4 at 1.5), and 0.75 converges (x0.25).
    """
    block = np.array([[1, 1], [1, -1], [-1, 1], [-1, -1]], "float32")
    x = np.tile(block, (8, 1))
    y = x @ np.array([[1.0], [-2.0]], "float32")
    model = keras.Sequential([keras.Input((2,)), keras.layers.Dense(1, use_bias=False,
                                                                     kernel_initializer="zeros")])
    model.compile(optimizer=keras.optimizers.SGD(learning_rate=learning_rate), loss="mse")
    return model, x, y


def _fit(model, x, y, callback, epochs=6):
    return model.fit(x, y, batch_size=4, epochs=epochs, shuffle=False, callbacks=[callback],
                     verbose=0)


def test_fit_recovers_from_explosion_with_two_rate_cuts():
    # Trace (loss at w0 is |w*|^2 = 5; Keras logs the running mean of the epoch):
    #   lr 3:   batch losses 5, 125 -> mean 65 > 10 * 5: roll back to w0, lr 1.5.
    #   lr 1.5: 5, 20, 80, 320 -> means 5, 12.5, 35, 106.25 > 50: roll back to w0 (the snapshot
    #           taken after 2 healthy steps is not trusted yet), lr 0.75.
    #   lr 0.75: the loss shrinks by 4x per step and converges.
    model, x, y = _regression(3.0)
    recovery = DivergenceRecovery(check="batch", snapshot_every_n_steps=2)
    history = _fit(model, x, y, recovery)
    assert recovery.retries == 2 and not recovery.stopped
    assert float(model.optimizer.learning_rate) == pytest.approx(0.75)
    assert history.history["loss"][-1] < 1e-12
    np.testing.assert_allclose(model.get_weights()[0], [[1.0], [-2.0]], atol=1e-6)


# Keras's .keras writer converts variables with np.array(variable), which NumPy 2 reports as a
# DeprecationWarning from keras.src (not covered by the project's tensorflow.* ignore).
@pytest.mark.filterwarnings("ignore:__array__ implementation doesn't accept a copy keyword")
def test_fit_scales_a_schedule_through_the_multiplier(tmp_path):
    # Rate 0 for the first step, then 3.0. A first fit() of one step compiles the train
    # function before the callback wraps the schedule, so the callback must rebuild it.
    schedule = keras.optimizers.schedules.PiecewiseConstantDecay([1], [0.0, 3.0])
    model, x, y = _regression(schedule)
    model.fit(x[:4], y[:4], batch_size=4, epochs=1, verbose=0)
    np.testing.assert_array_equal(model.get_weights()[0], np.zeros((2, 1)))
    recovery = DivergenceRecovery(check="batch", snapshot_every_n_steps=2)
    _fit(model, x, y, recovery, epochs=4)
    assert recovery.retries == 2 and recovery.lr_multiplier == 0.25
    assert float(model.optimizer.learning_rate) == pytest.approx(0.75)
    np.testing.assert_allclose(model.get_weights()[0], [[1.0], [-2.0]], atol=1e-6)
    # A later fit() with a fresh callback keeps the cut already on the optimizer.
    again = DivergenceRecovery(check="epoch")
    _fit(model, x, y, again, epochs=1)
    assert again.lr_multiplier == 0.25 and again.retries == 0
    assert float(model.optimizer.learning_rate) == pytest.approx(0.75)
    # The wrapped schedule is saved with the optimizer and loads in safe mode.
    model.save(tmp_path / "model.keras")
    restored = keras.saving.load_model(tmp_path / "model.keras", safe_mode=True)
    assert float(restored.optimizer.learning_rate) == pytest.approx(0.75)


def test_fit_stops_after_max_retries(capsys):
    model, x, y = _regression(3.0)
    recovery = DivergenceRecovery(max_retries=1, check="batch", snapshot_every_n_steps=2)
    history = _fit(model, x, y, recovery)
    assert recovery.retries == 1 and recovery.stopped
    assert len(history.history["loss"]) == 1  # stopped during the first epoch
    assert "max_retries reached" in capsys.readouterr().out
    np.testing.assert_array_equal(model.get_weights()[0], np.zeros((2, 1)))  # w0 restored


def test_epoch_check_adds_no_batch_hook_and_recovers_from_nan():
    recovery = DivergenceRecovery(check="epoch")
    assert getattr(recovery.on_train_batch_end, "_is_default", False)  # Keras stays async
    assert not getattr(DivergenceRecovery(check="batch").on_train_batch_end, "_is_default", False)
    model, _, _ = _regression(0.1)
    model.optimizer.build(model.trainable_variables)
    recovery.set_model(model)
    recovery.on_train_begin()
    for epoch, loss in enumerate([5.0, 4.0, 3.0]):
        model.set_weights([np.full((2, 1), float(epoch + 1), "float32")])
        recovery.on_epoch_end(epoch, {"loss": loss})
    # Snapshots after epochs 0, 1, 2; the one of epoch 1 became trusted at epoch 2.
    model.set_weights([np.full((2, 1), np.nan, "float32")])
    model.optimizer.iterations.assign(7)
    recovery.on_epoch_end(3, {"loss": float("nan")})
    np.testing.assert_array_equal(model.get_weights()[0], np.full((2, 1), 2.0))
    assert int(model.optimizer.iterations) == 0  # optimizer state rolled back too
    assert float(model.optimizer.learning_rate) == pytest.approx(0.05)
    assert recovery.retries == 1


def test_explosion_is_relative_to_best_loss():
    model, _, _ = _regression(0.1)
    recovery = DivergenceRecovery(check="epoch", explosion_factor=4.0)
    recovery.set_model(model)
    recovery.on_train_begin()
    for epoch, loss in enumerate([8.0, 2.0, 7.9, 8.0]):  # 8.0 <= 4 * 2.0: still healthy
        recovery.on_epoch_end(epoch, {"loss": loss})
    assert recovery.retries == 0 and recovery.best == 2.0
    recovery.on_epoch_end(4, {"loss": 8.01})
    assert recovery.retries == 1 and recovery.best is None
    recovery.on_epoch_end(5, {"loss": 7.0})  # the reference restarts from the restored state
    recovery.on_epoch_end(6, {"loss": 27.0})
    assert recovery.retries == 1 and recovery.best == 7.0


def test_state_dict_resume_continues_exactly():
    # Roll-backs at the NaN, at 50 (> 10 * 2.0) and at inf; after each one the best loss
    # restarts, so 9.0 is healthy again (< 10 * 0.9).
    losses = [5.0, 4.0, float("nan"), 3.0, 2.0, 50.0, 1.0, float("inf"), 0.9, 9.0]

    def run(callback, model, epochs):
        for epoch in epochs:
            callback.on_epoch_end(epoch, {"loss": losses[epoch]})

    model, _, _ = _regression(0.1)
    whole = DivergenceRecovery(check="epoch", max_retries=5)
    whole.set_model(model)
    whole.on_train_begin()
    run(whole, model, range(len(losses)))

    model, _, _ = _regression(0.1)
    first = DivergenceRecovery(check="epoch", max_retries=5)
    first.set_model(model)
    first.on_train_begin()
    run(first, model, range(4))
    state = json.loads(json.dumps(first.state_dict()))
    resumed = DivergenceRecovery.from_config(first.get_config())
    resumed.load_state_dict(state)
    resumed.set_model(model)
    resumed.on_train_begin()
    run(resumed, model, range(4, len(losses)))
    assert resumed.state_dict() == whole.state_dict() == {
        "retries": 3, "stopped": False, "best": 0.9, "lr_multiplier": 1.0}
    assert float(model.optimizer.learning_rate) == pytest.approx(0.1 * 0.5**3)


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"factor": 1.0}, r"`factor` must be a number in \(0, 1\). Received: factor=1.0"),
        ({"factor": 0}, r"factor=0"),
        ({"max_retries": -1}, r"`max_retries` must be an integer >= 0. Received: max_retries=-1"),
        ({"explosion_factor": 1.0}, r"`explosion_factor` must be a finite number > 1"),
        ({"explosion_factor": float("inf")}, r"explosion_factor=inf"),
        ({"check": "step"}, r"`check` must be one of 'batch', 'epoch'. Received: check='step'"),
        ({"monitor": "val_loss"}, r"`check='batch'` needs a training key"),
        ({"snapshot_every_n_steps": 0}, r"snapshot_every_n_steps=0"),
    ],
)
def test_invalid_arguments_raise(kwargs, match):
    with pytest.raises(ValueError, match=match):
        DivergenceRecovery(**kwargs)


def test_config_round_trips():
    recovery = DivergenceRecovery(monitor="val_loss", factor=0.25, max_retries=2,
                                  explosion_factor=5.0, check="epoch", snapshot_every_n_steps=7)
    config = recovery.get_config()
    assert DivergenceRecovery.from_config(config).get_config() == config
    rebuilt = keras.saving.deserialize_keras_object(keras.saving.serialize_keras_object(recovery))
    assert type(rebuilt) is DivergenceRecovery and rebuilt.get_config() == config
    built = registry.build("callback", {"type": "divergence_recovery", **config})
    assert type(built) is DivergenceRecovery and built.get_config() == config
