"""Stochastic depth (`model.stochastic_depth`) on the built-in residual networks."""

import keras
import numpy as np
import pytest

from kerasopt.models.build import build_model
from kerasopt.models.errors import ModelError
from kerasopt.models.stochastic_depth import StochasticDepth, drop_rates


def test_linear_decay_over_blocks():
    # Huang et al. 2016, Eq. 4: p_l = l / L * p_L over all residual blocks of the network.
    model = build_model({"architecture": "resnet", "filters": 2, "blocks_per_stage": [2, 1, 1],
                         "stochastic_depth": 0.2}, input_shape=(8, 1), num_classes=2)
    rates = [layer.rate for layer in model.layers if isinstance(layer, StochasticDepth)]
    assert rates == pytest.approx([0.05, 0.10, 0.15, 0.20])
    model = build_model({"architecture": "resnet1d", "filters": [2, 2, 2], "stochastic_depth": 0.3},
                        input_shape=(8, 1), num_classes=2)
    assert [model.get_layer(f"block{b}_drop_path").rate for b in (1, 2, 3)] == pytest.approx([0.1, 0.2, 0.3])
    assert drop_rates(0.0, 3) == [0.0, 0.0, 0.0]


def test_training_mean_matches_and_drops_whole_samples():
    # Inverted scaling: a kept branch is multiplied by 1 / (1 - p), so the mean over samples is x.
    layer = StochasticDepth(0.25, seed=3)
    x = np.ones((20_000, 3, 2), "float32")
    y = np.asarray(layer(x, training=True))
    per_sample = y.reshape(len(y), -1)
    assert np.all(per_sample == per_sample[:, :1])  # one draw per sample
    assert set(np.unique(y)) == {0.0, np.float32(1 / 0.75)}
    assert (per_sample[:, 0] == 0).mean() == pytest.approx(0.25, abs=0.01)  # 3.5 sigma: 0.0107
    assert y.mean() == pytest.approx(1.0, abs=0.015)
    assert not np.array_equal(y, np.asarray(layer(x, training=True)))  # a new draw per call


@pytest.mark.parametrize("spec,shape", [
    ({"architecture": "resnet", "filters": 2, "blocks_per_stage": [1, 1]}, (12, 2)),
    ({"architecture": "resnet1d", "filters": [2, 4]}, (12, 2)),
])
def test_inference_is_the_network_without_dropping(spec, shape):
    rng = np.random.default_rng(0)
    x = rng.normal(size=(6, *shape)).astype("float32")
    plain = build_model(spec, input_shape=shape, num_classes=3, seed=5)
    dropped = build_model({**spec, "stochastic_depth": 0.5}, input_shape=shape, num_classes=3, seed=5)
    assert len(dropped.layers) > len(plain.layers)
    for layer in plain.layers:  # the same weights: stochastic depth takes no initializer seed
        for a, b in zip(layer.weights, dropped.get_layer(layer.name).weights, strict=True):
            np.testing.assert_array_equal(a.numpy(), b.numpy())
    expected = plain.predict_on_batch(x)
    np.testing.assert_array_equal(dropped.predict_on_batch(x), expected)
    np.testing.assert_array_equal(dropped.predict_on_batch(x), expected)  # deterministic
    assert not np.allclose(dropped(x, training=True), plain(x, training=True))  # branches dropped


def test_saved_and_reloaded(tmp_path):
    model = build_model({"architecture": "resnet1d", "filters": [2], "stochastic_depth": 0.1},
                        input_shape=(8, 1), num_classes=2)
    model.save(tmp_path / "m.keras")
    loaded = keras.saving.load_model(tmp_path / "m.keras", safe_mode=True)
    assert loaded.get_layer("block1_drop_path").get_config()["rate"] == pytest.approx(0.1)
    x = np.ones((2, 8, 1), "float32")
    np.testing.assert_allclose(loaded.predict_on_batch(x), model.predict_on_batch(x), rtol=1e-6)


@pytest.mark.parametrize("rate", [-0.1, 1.0, True, "0.1"])
def test_bad_rates(rate):
    with pytest.raises(ModelError, match="stochastic_depth"):
        build_model({"architecture": "resnet", "filters": 2, "blocks_per_stage": [1], "stochastic_depth": rate},
                    input_shape=(8, 1), num_classes=2)
