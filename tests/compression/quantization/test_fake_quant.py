"""The fake-quantization math against NumPy re-derivations (tests/compression/quantization/reference.py)."""

import keras
import numpy as np
import pytest

from kerasopt.compression.quantization import _fake_quant
from tests.compression.quantization import reference


def test_asymmetric_per_tensor_matches_nudged_scale_and_zero_point():
    x = np.linspace(-2.5, 7.0, 3001).astype("float32")
    low, high = -1.3, 5.2
    got = keras.ops.convert_to_numpy(_fake_quant.quantize_activations(x, low, high))
    np.testing.assert_allclose(got, reference.fake_quant(x, low, high), atol=1e-5)
    # 256 levels of (5.2 + 1.3) / 255; zero point round(1.3 / scale) = 51 -> int8 -77; 0 stays exactly 0.
    scale = 6.5 / 255
    assert len(np.unique(np.round(got / scale).astype(int))) == 256
    assert keras.ops.convert_to_numpy(_fake_quant.quantize_activations(np.zeros(3, "float32"), low, high)).max() == 0
    assert got.min() == pytest.approx(-51 * scale, abs=1e-6) and got.max() == pytest.approx(204 * scale, abs=1e-5)


def test_symmetric_per_channel_narrow_range():
    rng = np.random.default_rng(0)
    kernel = (rng.normal(size=(3, 5, 4)) * np.array([0.01, 0.1, 1.0, 10.0])).astype("float32")
    got = keras.ops.convert_to_numpy(_fake_quant.quantize_weights(kernel, -1))
    np.testing.assert_allclose(got, reference.quantize_weights(kernel), rtol=1e-5, atol=1e-7)
    for channel in range(4):  # each channel: integers in [-127, 127] times max|w| / 127, both ends reached
        scale = np.abs(kernel[..., channel]).max() / 127
        levels = got[..., channel] / scale
        np.testing.assert_allclose(levels, np.round(levels), atol=1e-3)
        assert np.abs(levels).max() == pytest.approx(127, abs=1e-3)


def test_all_zero_channel_stays_zero():
    kernel = np.array([[0.0, 0.5], [0.0, -0.25]], "float32")
    got = keras.ops.convert_to_numpy(_fake_quant.quantize_weights(kernel, -1))
    assert np.all(np.isfinite(got)) and np.all(got[:, 0] == 0)
    np.testing.assert_allclose(got[:, 1], [0.5, -0.25], atol=0.5 / 127)


def test_weight_rounding_passes_the_gradient_straight_through():
    import tensorflow as tf

    kernel = tf.constant(np.array([[0.3, -0.2], [0.1, 0.05]], "float32"))
    with tf.GradientTape() as tape:
        tape.watch(kernel)
        loss = tf.reduce_sum(_fake_quant.quantize_weights(kernel, -1) * np.array([[1.0, 2.0], [3.0, 4.0]]))
    np.testing.assert_allclose(tape.gradient(loss, kernel).numpy(), [[1.0, 2.0], [3.0, 4.0]])


@pytest.mark.parametrize("decay", [0.9, 0.5])
def test_ema_range_update(decay):
    rng = np.random.default_rng(1)
    batches = [rng.normal(loc=1.0 + i, size=50).astype("float32") for i in range(5)]
    low, high = keras.Variable(-6.0), keras.Variable(6.0)
    for count, batch in enumerate(batches):
        _fake_quant.observe(batch, low, high, count, ema_decay=decay)
    want_low, want_high = reference.ema_ranges(batches, decay)
    assert float(low.numpy()) == pytest.approx(want_low, rel=1e-5, abs=1e-6)
    assert float(high.numpy()) == pytest.approx(want_high, rel=1e-5)


def test_calibration_range_is_running_min_max_containing_zero():
    low, high = keras.Variable(-6.0), keras.Variable(6.0)
    for count, batch in enumerate([np.array([2.0, 3.0]), np.array([1.0, 5.0]), np.array([4.0, 4.5])]):
        _fake_quant.observe(batch.astype("float32"), low, high, count, ema_decay=None)
    assert (float(low.numpy()), float(high.numpy())) == (0.0, 5.0)
