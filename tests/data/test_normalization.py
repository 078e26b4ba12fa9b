"""The normalizer is fitted on the training split only and travels inside the model."""

from __future__ import annotations

import keras
import numpy as np
import pytest

from kerasopt.data.build import build_data
from kerasopt.data.errors import DataError
from kerasopt.data.normalization import fit_normalizer


def test_standardize_uses_the_training_split_only():
    bundle = build_data("digits", {}, normalization="standardize", validation_split=0.2, seed=1)
    layer = bundle.normalizer
    mean = keras.ops.convert_to_numpy(layer.mean).reshape(-1)
    np.testing.assert_allclose(mean, bundle.x_train.mean(axis=0), rtol=1e-5, atol=1e-5)
    everything = np.concatenate([bundle.x_train, bundle.x_val, bundle.x_test])
    assert np.abs(mean - everything.mean(axis=0)).max() > 1e-3  # not the whole-data mean
    out = keras.ops.convert_to_numpy(layer(bundle.x_train))
    active = bundle.x_train.std(axis=0) > 0
    np.testing.assert_allclose(out.mean(axis=0), 0.0, atol=1e-4)
    np.testing.assert_allclose(out.std(axis=0)[active], 1.0, rtol=1e-3)
    # Pixels that are always 0 on the training split map to 0, not to x / epsilon.
    assert np.all(out[:, ~active] == 0.0)
    # The datasets stay raw: normalization is the model's job.
    x, _ = next(iter(bundle.validation))
    np.testing.assert_array_equal(x.numpy(), bundle.x_val[: len(x)])


def test_minmax_per_channel_on_images():
    rng = np.random.default_rng(0)
    x = rng.uniform(size=(20, 4, 4, 2)).astype(np.float32) * np.array([10.0, 100.0]) - 5.0
    layer = fit_normalizer(x, "minmax")
    out = keras.ops.convert_to_numpy(layer(x))
    np.testing.assert_allclose(out.reshape(-1, 2).min(axis=0), 0.0, atol=1e-6)
    np.testing.assert_allclose(out.reshape(-1, 2).max(axis=0), 1.0, atol=1e-6)
    expected = (x - x.reshape(-1, 2).min(0)) / (x.reshape(-1, 2).max(0) - x.reshape(-1, 2).min(0))
    np.testing.assert_allclose(out, expected, rtol=1e-5, atol=1e-6)
    assert fit_normalizer(x, "none") is None
    with pytest.raises(DataError, match=r"`normalization` must be one of.*Received: normalization='zscore'"):
        fit_normalizer(x, "zscore")


# Keras 3.15's saving calls np.array(variable, copy=False) on TF variables, which NumPy 2
# reports as a DeprecationWarning from keras.src (not covered by the project's tensorflow.* ignore).
@pytest.mark.filterwarnings(
    "ignore:__array__ implementation doesn't accept a copy keyword:DeprecationWarning")
def test_normalizer_round_trips_in_a_keras_file(tmp_path):
    x = np.random.default_rng(0).normal(3.0, 2.0, size=(40, 5)).astype(np.float32)
    layer = fit_normalizer(x, "standardize")
    model = keras.Sequential([keras.Input((5,)), layer, keras.layers.Dense(2)])
    path = tmp_path / "m.keras"
    model.save(path)
    loaded = keras.saving.load_model(path, safe_mode=True)
    np.testing.assert_allclose(loaded.predict(x, verbose=0), model.predict(x, verbose=0),
                               rtol=1e-6)
    rebuilt = keras.layers.Normalization.from_config(layer.get_config())
    rebuilt.build((None, 5))
    np.testing.assert_allclose(keras.ops.convert_to_numpy(rebuilt(x)),
                               keras.ops.convert_to_numpy(layer(x)), rtol=1e-6)
