"""DeltaOrthogonal: orthogonal centre tap, zeros elsewhere, config round trip."""

from __future__ import annotations

import keras
import numpy as np
import pytest

from kerasopt.initializers.delta_orthogonal import DeltaOrthogonal


@pytest.mark.parametrize("shape", [(3, 4, 8), (3, 3, 4, 4), (5, 3, 2, 6), (3, 3, 3, 2, 5)])
def test_centre_is_orthogonal_with_gain_and_rest_is_zero(shape):
    kernel = np.asarray(DeltaOrthogonal(gain=2.0, seed=1)(shape, "float64"))
    assert kernel.shape == shape
    centre = tuple(k // 2 for k in shape[:-2])
    h = kernel[centre]
    np.testing.assert_allclose(h @ h.T, 4.0 * np.eye(shape[-2]), atol=1e-10)  # gain^2 I
    rest = kernel.copy()
    rest[centre] = 0
    assert not rest.any()


def test_convolution_is_an_isometry_at_init():
    # A "same" conv with a delta-orthogonal kernel maps each position's channels by H:
    # the norm of every position's channel vector is preserved.
    conv = keras.layers.Conv1D(8, 3, padding="same", use_bias=False,
                               kernel_initializer=DeltaOrthogonal(seed=0))
    x = np.random.default_rng(0).normal(size=(2, 10, 8)).astype("float32")
    y = np.asarray(conv(x))
    np.testing.assert_allclose(np.linalg.norm(y, axis=-1), np.linalg.norm(x, axis=-1), rtol=1e-5)


def test_errors_and_config_round_trip():
    with pytest.raises(ValueError, match="`gain` must be a number > 0. Received: gain=0"):
        DeltaOrthogonal(gain=0)
    with pytest.raises(ValueError, match=r"c_in <= c_out .*c_in=8, c_out=4"):
        DeltaOrthogonal()((3, 8, 4))
    init = DeltaOrthogonal(gain=1.5, seed=3)
    assert init.get_config() == {"gain": 1.5, "seed": 3}
    clone = DeltaOrthogonal.from_config(init.get_config())
    np.testing.assert_array_equal(np.asarray(clone((3, 2, 4))), np.asarray(init((3, 2, 4))))
    restored = keras.initializers.deserialize(keras.initializers.serialize(init))
    assert isinstance(restored, DeltaOrthogonal) and restored.get_config() == init.get_config()
