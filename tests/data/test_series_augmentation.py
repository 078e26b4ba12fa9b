"""Jitter, scaling, magnitude and time warping and window slicing against their definitions (NumPy, SciPy)."""

from __future__ import annotations

import numpy as np
import pytest
import tensorflow as tf
from scipy.interpolate import CubicSpline

from kerasopt.data import series_augmentation as series
from kerasopt.data.augmentation import Augmentation

SEED = tf.constant([5, 6], dtype=tf.int64)
STEPS, KNOTS = 31, 4  # knots at 0, 6, 12, 18, 24, 30: whole steps, so a curve's knot values can be read off
POSITIONS = np.linspace(0, STEPS - 1, KNOTS + 2)


def _series(n: int, channels: int = 2) -> np.ndarray:
    return np.random.default_rng(0).normal(size=(n, STEPS, channels)).astype(np.float32)


def test_spline_matrix_is_scipys_not_a_knot_cubic_spline():
    knots = np.linspace(0, 39, 6)  # not whole steps
    y = np.random.default_rng(1).normal(size=(6, 3))
    at = np.arange(40.0)
    np.testing.assert_allclose(series.spline_matrix(knots, at) @ y, CubicSpline(knots, y)(at), atol=1e-10)


def test_jitter_adds_normal_noise_of_std_sigma():
    sigma, shape = 0.03, (200, 50, 2)
    noise = series.jitter(tf.zeros(shape), sigma, SEED).numpy()
    # 20,000 draws: the standard error of the sample std is sigma / sqrt(2 n) = 1.5e-4, of the mean 2.1e-4.
    n = noise.size
    assert abs(noise.std() - sigma) < 5 * sigma / np.sqrt(2 * n)
    assert abs(noise.mean()) < 5 * sigma / np.sqrt(n)


def test_scaling_multiplies_each_channel_by_one_normal_factor():
    sigma = 0.1
    x = _series(500, channels=3)
    out = series.scaling(tf.constant(x), sigma, SEED).numpy()
    factors = out / x
    np.testing.assert_allclose(factors, factors[:, :1, :] * np.ones_like(factors), rtol=1e-4)  # constant over steps
    f = factors[:, 0, :]  # 1,500 factors: standard errors 0.0026 (mean) and 0.0018 (std)
    assert abs(f.mean() - 1) < 0.013 and abs(f.std() - sigma) < 0.01
    assert np.corrcoef(f[:, 0], f[:, 1])[0, 1] < 0.15  # drawn per channel


def test_magnitude_warp_multiplies_by_the_cubic_spline_through_its_knots():
    sigma, x = 0.2, _series(64)
    curve = series.magnitude_warp(tf.ones_like(x), sigma, KNOTS, SEED).numpy()
    np.testing.assert_allclose(series.magnitude_warp(tf.constant(x), sigma, KNOTS, SEED).numpy(),
                               x * curve, rtol=1e-5, atol=1e-6)
    knot_values = curve[:, POSITIONS.astype(int), :]  # (64, 6, 2)
    for sample, values in zip(curve, knot_values, strict=True):
        np.testing.assert_allclose(sample, CubicSpline(POSITIONS, values)(np.arange(STEPS)), atol=1e-5)
    # 768 knot values ~ N(1, 0.04): standard errors 0.0072 (mean) and 0.0051 (std)
    assert abs(knot_values.mean() - 1) < 0.036 and abs(knot_values.std() - sigma) < 0.026


def test_time_warp_with_zero_sigma_is_the_identity():
    x = _series(8)
    np.testing.assert_allclose(series.time_warp(tf.constant(x), 0.0, KNOTS, SEED).numpy(), x, atol=1e-5)


def test_time_warp_is_iwana_and_uchidas_spline_warp_then_np_interp():
    sigma, x = 0.1, _series(32)
    # The time warp draws the same knot factors as a magnitude warp with the same seed and shape.
    factors = series.magnitude_warp(tf.ones_like(x), sigma, KNOTS, SEED).numpy()[:, POSITIONS.astype(int), :]
    out = series.time_warp(tf.constant(x), sigma, KNOTS, SEED).numpy()
    steps, folds = np.arange(STEPS), 0
    for i in range(len(x)):
        for c in range(x.shape[2]):  # utils/augmentation.py of Iwana & Uchida 2021, time_warp
            warp = CubicSpline(POSITIONS, POSITIONS * factors[i, :, c])(steps)
            xp = np.clip((STEPS - 1) / warp[-1] * warp, 0, STEPS - 1)
            folds += not np.all(np.diff(xp) >= 0)
            xp = np.maximum.accumulate(xp)  # a fold holds still (np.interp needs xp non-decreasing)
            np.testing.assert_allclose(out[i, :, c], np.interp(steps, xp, x[i, :, c]), atol=1e-4)
    assert np.abs(out - x).mean() > 0.05 and folds < len(x)


def test_window_slice_is_np_interp_of_a_crop_stretched_to_length():
    ratio, x = 0.8, _series(40)
    width = int(np.ceil(ratio * STEPS))  # 25 steps
    out = series.window_slice(tf.constant(x), ratio, SEED).numpy()
    grid = np.linspace(0, width - 1, STEPS)
    starts = []
    for i in range(len(x)):
        matches = [s for s in range(STEPS - width + 1)
                   if np.allclose(out[i], np.stack([np.interp(grid, np.arange(width), x[i, s:s + width, c])
                                                    for c in range(2)], axis=1), atol=1e-5)]
        assert len(matches) == 1
        starts.append(matches[0])
    assert len(set(starts)) >= 5 and min(starts) >= 0 and max(starts) <= STEPS - width


@pytest.mark.parametrize("kind", ["jitter", "scaling", "magnitude_warp", "time_warp", "window_slice"])
def test_series_steps_follow_the_seed_on_both_series_shapes(kind):
    x = _series(6)
    for shape, batch in (((STEPS, 2), x), ((STEPS,), x[..., 0])):
        augmentation = Augmentation([{"type": kind}], shape)
        first, again = (augmentation(tf.constant(batch), tf.zeros(6), SEED)[0].numpy() for _ in range(2))
        other = augmentation(tf.constant(batch), tf.zeros(6), SEED + 1)[0].numpy()
        assert first.shape == batch.shape
        np.testing.assert_array_equal(first, again)
        assert not np.allclose(first, other) and not np.allclose(first, batch)
