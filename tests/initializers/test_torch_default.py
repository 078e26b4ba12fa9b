"""PyTorch's default initialization (kaiming-uniform a=sqrt(5), uniform biases) against its closed form."""

import math

import keras
import numpy as np
import pytest

from kerasopt import registry
from kerasopt.initializers import TorchDefault, TorchDefaultBias


@pytest.mark.parametrize(("shape", "fan_in"), [((125, 400), 125), ((3, 25, 400), 75), ((5, 1, 2000), 5)])
def test_kernel_bound_and_variance_match_pytorch(shape, fan_in):
    w = keras.ops.convert_to_numpy(TorchDefault(seed=3)(shape))
    bound = 1.0 / math.sqrt(fan_in)  # sqrt(6 / ((1 + 5) * fan_in))
    assert np.abs(w).max() <= bound
    assert np.abs(w).max() > 0.99 * bound
    assert w.var() == pytest.approx(bound**2 / 3, rel=0.03)
    assert abs(w.mean()) < 0.01 * bound


def test_bias_bound_and_variance_use_the_layer_fan_in():
    b = keras.ops.convert_to_numpy(TorchDefaultBias(fan_in=75, seed=1)((50_000,)))
    bound = 1 / math.sqrt(75)
    assert np.abs(b).max() <= bound
    assert np.abs(b).max() > 0.99 * bound
    assert b.var() == pytest.approx(bound**2 / 3, rel=0.03)
    with pytest.raises(ValueError, match=r"`fan_in` must be a positive integer.*Received: fan_in=0"):
        TorchDefaultBias(fan_in=0)


def test_seeded_determinism_and_config_round_trip():
    a, b = TorchDefault(seed=7), TorchDefault(seed=7)
    np.testing.assert_array_equal(keras.ops.convert_to_numpy(a((4, 3))), keras.ops.convert_to_numpy(b((4, 3))))
    assert not np.array_equal(keras.ops.convert_to_numpy(a((4, 3))),
                              keras.ops.convert_to_numpy(TorchDefault(seed=8)((4, 3))))
    for init in (TorchDefault(seed=7), TorchDefaultBias(fan_in=5, seed=2)):
        restored = keras.initializers.deserialize(keras.initializers.serialize(init))
        assert type(restored) is type(init) and restored.get_config() == init.get_config()
    assert registry.get("initializer", "torch_default") is TorchDefault
    assert registry.get("initializer", "torch_default_bias") is TorchDefaultBias


def test_keras_file_reloads_in_safe_mode(tmp_path):
    model = keras.Sequential([keras.Input((40, 1)),
                              keras.layers.Conv1D(4, 5, kernel_initializer=TorchDefault(seed=0),
                                                  bias_initializer=TorchDefaultBias(fan_in=5, seed=1)),
                              keras.layers.Flatten(), keras.layers.Dense(2)])
    path = tmp_path / "m.keras"
    model.save(path)
    loaded = keras.saving.load_model(path, safe_mode=True)
    conv = loaded.layers[0]
    assert isinstance(conv.kernel_initializer, TorchDefault)
    assert conv.bias_initializer.get_config() == {"fan_in": 5, "seed": 1}
    np.testing.assert_array_equal(conv.get_weights()[1], model.layers[0].get_weights()[1])
