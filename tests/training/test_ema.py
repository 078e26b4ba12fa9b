"""`enable_ema`: Keras's `use_ema` with a start and a period, against a NumPy average of the trajectory."""

from __future__ import annotations

import keras
import numpy as np
import pytest

from kerasopt.optimizers import SWA
from kerasopt.training import enable_ema


def _trajectory_and_model(decay: float, start: int, every: int) -> tuple[list[list[np.ndarray]], keras.Model]:
    """Fit a tiny batch-norm MLP 2 epochs x 8 steps, recording the trained weights after every step."""
    rng = np.random.default_rng(0)
    x = rng.normal(size=(64, 5)).astype("float32")
    y = rng.normal(size=(64, 2)).astype("float32")
    keras.utils.set_random_seed(0)
    model = keras.Sequential([keras.Input((5,)), keras.layers.Dense(3), keras.layers.BatchNormalization(),
                              keras.layers.Dense(2)])
    model.compile(optimizer=enable_ema(keras.optimizers.SGD(0.1), decay=decay, start=start, every=every),
                  loss="mse")
    trajectory: list[list[np.ndarray]] = []

    class Record(keras.callbacks.Callback):
        def on_train_batch_end(self, batch, logs=None):  # noqa: ANN001, ANN202
            trajectory.append([v.numpy().copy() for v in self.model.trainable_variables])

    model.fit(x, y, batch_size=8, epochs=2, shuffle=False, verbose=0, callbacks=[Record()])
    return trajectory, model


@pytest.mark.parametrize(("decay", "start", "every"), [(0.8, 0, 1), (0.8, 3, 2)])
def test_the_average_is_the_numpy_recursion_over_the_recorded_weights(decay, start, every):
    trajectory, model = _trajectory_and_model(decay, start, every)
    assert len(trajectory) == 16
    # Keras's convention: the first step sets the average to the weights (momentum 0 at
    # iteration 0); before `start` it keeps tracking them; then every `every`-th step from
    # `start` mixes in (1 - decay) of the weights, the others keep the average as it is.
    ema = [w.astype("float64") for w in trajectory[0]]
    for t, weights in enumerate(trajectory[1:], start=1):  # t: the 0-based step that produced them
        if t < start:
            ema = [w.astype("float64") for w in weights]
        elif (t - start) % every == 0:
            ema = [decay * e + (1 - decay) * w for e, w in zip(ema, weights, strict=True)]
    # `fit` ends with the average in the model (finalize_variable_values).
    for expected, variable in zip(ema, model.trainable_variables, strict=True):
        np.testing.assert_allclose(variable.numpy(), expected, rtol=1e-5, atol=1e-6)
    # Not the last trained weights: the average lags behind them.
    assert max(np.abs(a - b).max() for a, b in zip(ema, trajectory[-1], strict=True)) > 1e-3
    # Batch-norm moving statistics are not averaged: the layer's own, collected in training.
    assert not np.allclose(model.layers[1].moving_mean.numpy(), 0.0)


def test_refusals_name_what_is_wrong():
    with pytest.raises(ValueError, match=r"`decay` must be a number > 0 and < 1. Received: decay=1.0"):
        enable_ema(keras.optimizers.SGD(), decay=1.0)
    with pytest.raises(ValueError, match=r"`every` must be an integer >= 1. Received: every=0"):
        enable_ema(keras.optimizers.SGD(), every=0)
    with pytest.raises(ValueError, match="averages the weights itself"):
        enable_ema(SWA(keras.optimizers.SGD()))
    built = keras.optimizers.SGD()
    built.build([keras.Variable(np.zeros(2))])
    with pytest.raises(ValueError, match="not built yet"):
        enable_ema(built)


def test_a_loaded_model_trains_on_with_the_same_schedule_once_enable_ema_is_called_again(tmp_path):
    # A .keras file keeps the averages, use_ema and ema_momentum, not `start`/`every`.
    rng = np.random.default_rng(1)
    x, y = rng.normal(size=(32, 5)).astype("float32"), rng.normal(size=(32, 2)).astype("float32")
    keras.utils.set_random_seed(0)
    model = keras.Sequential([keras.Input((5,)), keras.layers.Dense(2)])
    model.compile(optimizer=enable_ema(keras.optimizers.SGD(0.1), decay=0.8, start=3, every=4), loss="mse")
    model.fit(x, y, batch_size=8, epochs=1, shuffle=False, verbose=0)
    model.save(tmp_path / "m.keras")
    as_saved = keras.models.load_model(tmp_path / "m.keras")
    again = keras.models.load_model(tmp_path / "m.keras")
    enable_ema(again.optimizer, decay=0.8, start=3, every=4)
    for trained in (model, as_saved, again):
        trained.fit(x, y, batch_size=8, epochs=1, shuffle=False, verbose=0)
    np.testing.assert_allclose(again.get_weights()[0], model.get_weights()[0], rtol=1e-6, atol=1e-7)
    assert np.abs(as_saved.get_weights()[0] - model.get_weights()[0]).max() > 1e-4  # every step, no period
