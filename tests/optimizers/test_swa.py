"""Tests of SWA: the running average equals the NumPy mean of the weights at the snapshot steps."""

import keras
import numpy as np
import pytest

from kerasopt.optimizers.swa import SWA

A = np.array([1.0, 3.0])  # f(w) = 0.5 * sum(A * w^2)
W0 = np.array([2.0, -1.0])


def run(optimizer, steps):
    w = keras.Variable(W0.astype("float32"))
    after = []
    for _ in range(steps):
        optimizer.apply([A.astype("float32") * w.numpy()], [w])
        after.append(w.numpy().astype(np.float64))
    return w, np.array(after)


def test_first_step_average_is_the_updated_weights():
    optimizer = SWA(keras.optimizers.SGD(0.1), start_averaging=0, average_period=5)
    w, after = run(optimizer, 1)
    np.testing.assert_allclose(after[0], W0 - 0.1 * A * W0, rtol=1e-6)
    np.testing.assert_allclose(optimizer._averages[0].numpy(), after[0], rtol=1e-6)


@pytest.mark.parametrize("start, period", [(0, 1), (3, 4), (5, 10)])
def test_average_is_mean_of_snapshots_over_twenty_steps(start, period):
    # Snapshots: weights after the update of steps i = start, start + period, ... (0-based).
    optimizer = SWA(keras.optimizers.SGD(0.05, momentum=0.5), start_averaging=start,
                    average_period=period)
    w, after = run(optimizer, 20)
    taken = [i for i in range(20) if i >= start and (i - start) % period == 0]
    expected = after[taken].mean(axis=0)
    np.testing.assert_allclose(optimizer._averages[0].numpy(), expected, rtol=1e-5)
    np.testing.assert_allclose(w.numpy(), after[-1], rtol=1e-6)  # model keeps its own weights
    optimizer.assign_average_vars([w])
    np.testing.assert_allclose(w.numpy(), expected, rtol=1e-5)


def test_assign_average_vars_before_any_snapshot_keeps_weights():
    optimizer = SWA(keras.optimizers.SGD(0.1), start_averaging=10)
    w, after = run(optimizer, 3)
    other = keras.Variable(np.ones(2, "float32"))  # not trained by this optimizer: skipped
    optimizer.assign_average_vars([w, other])
    np.testing.assert_allclose(w.numpy(), after[-1])
    np.testing.assert_allclose(other.numpy(), 1.0)


def test_assign_average_vars_requires_build():
    with pytest.raises(ValueError, match="built"):
        SWA("sgd").assign_average_vars([keras.Variable(1.0)])


@pytest.mark.parametrize("kwargs, match", [
    ({"start_averaging": -1}, "start_averaging=-1"),
    ({"start_averaging": 1.5}, "start_averaging=1.5"),
    ({"average_period": 0}, "average_period=0"),
    ({"average_period": True}, "average_period=True"),
])
def test_validation(kwargs, match):
    with pytest.raises(ValueError, match=match):
        SWA("sgd", **kwargs)


def test_config_round_trip():
    optimizer = SWA(keras.optimizers.SGD(0.2), start_averaging=7, average_period=3, name="s")
    config = optimizer.get_config()
    assert (config["start_averaging"], config["average_period"], config["name"]) == (7, 3, "s")
    assert SWA.from_config(config).get_config() == config


# Keras 3.15's `model.save` converts a TF variable with np.array(copy=False); NumPy 2 warns
# about the variable's __array__ signature (any model, Keras's Adam included).
@pytest.mark.filterwarnings("ignore:__array__ implementation doesn't accept a copy keyword")
def test_fit_then_keras_file_keeps_the_average(tmp_path):
    rng = np.random.default_rng(0)
    x = rng.normal(size=(32, 2)).astype("float32")
    y = (x @ np.array([[1.5], [-0.5]])).astype("float32")
    keras.utils.set_random_seed(0)
    model = keras.Sequential([keras.Input((2,)), keras.layers.Dense(1)])
    model.compile(optimizer=SWA(keras.optimizers.SGD(0.1), start_averaging=4, average_period=2),
                  loss="mse")
    losses = model.fit(x, y, batch_size=8, epochs=5, verbose=0).history["loss"]
    assert losses[-1] < losses[0]
    path = str(tmp_path / "swa.keras")
    model.save(path)
    loaded = keras.saving.load_model(path, safe_mode=True)
    loaded.optimizer.assign_average_vars(loaded.trainable_variables)
    model.optimizer.assign_average_vars(model.trainable_variables)
    for a, b in zip(model.get_weights(), loaded.get_weights(), strict=True):
        np.testing.assert_array_equal(a, b)
    assert model.evaluate(x, y, verbose=0) < losses[0]
