"""Tests of recompute_batch_norm_statistics: statistics equal those of the activations."""

import keras
import numpy as np
import pytest

from kerasopt.optimizers.swa import SWA
from kerasopt.training.batch_norm import recompute_batch_norm_statistics

RNG = np.random.default_rng(0)
X = RNG.normal(loc=2.0, scale=3.0, size=(50, 3)).astype("float32")


def make_model():
    keras.utils.set_random_seed(0)
    inputs = keras.Input((3,))
    dense = keras.layers.Dense(4, name="first")
    norm = keras.layers.BatchNormalization(momentum=0.9, name="bn")
    model = keras.Model(inputs, keras.layers.Dense(1)(norm(dense(inputs))))
    return model, dense, norm


def test_statistics_equal_mean_and_variance_of_the_activations_over_uneven_batches():
    model, dense, norm = make_model()
    acts = X.astype(np.float64) @ dense.kernel.numpy() + dense.bias.numpy()
    recompute_batch_norm_statistics(model, X, batch_size=16)  # batches of 16, 16, 16, 2
    np.testing.assert_allclose(norm.moving_mean.numpy(), acts.mean(axis=0), rtol=1e-5)
    np.testing.assert_allclose(norm.moving_variance.numpy(), acts.var(axis=0), rtol=1e-4)
    assert norm.momentum == 0.9  # restored


def test_steps_and_iterable_data():
    model, dense, norm = make_model()
    acts = X.astype(np.float64) @ dense.kernel.numpy() + dense.bias.numpy()
    batches = [(X[i:i + 10], np.zeros((10, 1))) for i in range(0, 50, 10)]
    recompute_batch_norm_statistics(model, iter(batches), steps=2)
    np.testing.assert_allclose(norm.moving_mean.numpy(), acts[:20].mean(axis=0), rtol=1e-5)
    np.testing.assert_allclose(norm.moving_variance.numpy(), acts[:20].var(axis=0), rtol=1e-4)
    recompute_batch_norm_statistics(model, (X, np.zeros((50, 1))), batch_size=50)
    np.testing.assert_allclose(norm.moving_mean.numpy(), acts.mean(axis=0), rtol=1e-5)


@pytest.mark.parametrize("kwargs, match", [
    ({"steps": 0}, "steps=0"), ({"batch_size": 0}, "batch_size=0")])
def test_validation(kwargs, match):
    model, _, _ = make_model()
    with pytest.raises(ValueError, match=match):
        recompute_batch_norm_statistics(model, X, **kwargs)


def test_empty_data():
    model, _, _ = make_model()
    with pytest.raises(ValueError, match="no batches"):
        recompute_batch_norm_statistics(model, iter([]))


def test_swa_then_recompute_after_fit():
    model, dense, norm = make_model()
    y = X[:, :1] * 0.5
    model.compile(optimizer=SWA(keras.optimizers.SGD(0.01), start_averaging=2, average_period=2),
                  loss="mse")
    model.fit(X, y, batch_size=10, epochs=2, verbose=0)
    model.optimizer.assign_average_vars(model.trainable_variables)
    recompute_batch_norm_statistics(model, X, batch_size=25)
    acts = X.astype(np.float64) @ dense.kernel.numpy() + dense.bias.numpy()
    np.testing.assert_allclose(norm.moving_mean.numpy(), acts.mean(axis=0), rtol=1e-5)
    np.testing.assert_allclose(norm.moving_variance.numpy(), acts.var(axis=0), rtol=1e-4)
