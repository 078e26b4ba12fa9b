"""Time-series augmentation on batches `(batch, steps, channels)`, with stateless TensorFlow randomness.

The five transforms of Um et al. 2017 ("Data augmentation of wearable sensor data for
Parkinson's disease monitoring using convolutional neural networks", Sec. 3) and Le Guennec
et al. 2016 ("Data augmentation for time series classification using convolutional neural
networks", window slicing), written as in the reference code of Iwana & Uchida 2021 ("An
empirical survey of data augmentation for time series classification with neural networks",
`utils/augmentation.py`): every random draw is made per sample and per channel. Each
function takes a `[2]`-int seed tensor, so a pipeline that derives one seed per batch is
reproducible, and runs inside `tf.data`.

The smooth curves of magnitude and time warping are cubic splines with not-a-knot end
conditions (SciPy's `CubicSpline` default, which the reference code uses) through
`knots + 2` points evenly spaced over the steps. Since the knots' positions depend only on
the number of steps, the spline is a fixed linear map of the knots' values:
:func:`spline_matrix` computes it once with NumPy, and the per-sample curves are one matrix
product.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np


def spline_matrix(knots: np.ndarray, at: np.ndarray) -> np.ndarray:
    """The matrix `S` such that `S @ y` is the not-a-knot cubic spline through `(knots, y)` at `at`.

    Solves for the four coefficients of each of the `n - 1` pieces: the pieces meet the
    points (`2(n - 1)` conditions), their first and second derivatives agree at the inner
    knots (`2(n - 2)`), and the third derivative is continuous at the second and the
    second-last knots (not-a-knot, 2), with the identity as right-hand side.

    Args:
        knots: The knots' positions, increasing, at least 4.
        at: Where to evaluate the spline.

    Returns:
        A float64 array of shape `(len(at), len(knots))`.

    Raises:
        ValueError: With fewer than 4 knots.

    Example:
        >>> s = spline_matrix(np.array([0.0, 1.0, 2.0, 3.0]), np.array([0.5, 1.5]))
        >>> np.round(s @ np.array([0.0, 1.0, 8.0, 27.0]), 6).tolist()  # x**3 is its own spline
        [0.125, 3.375]
    """
    knots, at = np.asarray(knots, np.float64), np.asarray(at, np.float64)
    n = len(knots)
    if n < 4:
        raise ValueError(f"A not-a-knot cubic spline here needs at least 4 knots. Received: {n} knots.")
    pieces, h = n - 1, np.diff(knots)
    a, b = np.zeros((4 * pieces, 4 * pieces)), np.zeros((4 * pieces, n))
    row = 0
    for i in range(pieces):  # piece i: c0 + c1 t + c2 t^2 + c3 t^3, t = x - knots[i]
        a[row, 4 * i], b[row, i] = 1.0, 1.0
        a[row + 1, 4 * i:4 * i + 4], b[row + 1, i + 1] = [1.0, h[i], h[i] ** 2, h[i] ** 3], 1.0
        row += 2
    for i in range(pieces - 1):  # first and second derivatives agree at knots[i + 1]
        a[row, 4 * i:4 * i + 4], a[row, 4 * i + 5] = [0.0, 1.0, 2 * h[i], 3 * h[i] ** 2], -1.0
        a[row + 1, 4 * i:4 * i + 4], a[row + 1, 4 * i + 6] = [0.0, 0.0, 2.0, 6 * h[i]], -2.0
        row += 2
    for i in (0, pieces - 2):  # not-a-knot: the third derivative agrees at knots[1] and knots[-2]
        a[row, 4 * i + 3], a[row, 4 * i + 7] = 6.0, -6.0
        row += 1
    coefficients = np.linalg.solve(a, b).reshape(pieces, 4, n)
    piece = np.clip(np.searchsorted(knots, at, side="right") - 1, 0, pieces - 1)
    t = at - knots[piece]
    powers = np.stack([np.ones_like(t), t, t ** 2, t ** 3], axis=1)
    return np.einsum("qk,qkn->qn", powers, coefficients[piece])


def _curves(x: Any, sigma: float, knots: int, seed: Any, scale_by_position: bool) -> Any:
    """Per-sample, per-channel spline curves over the steps through knots drawn from N(1, sigma).

    With `scale_by_position`, the knot values are the knots' positions times the draws
    (a warped time axis, as time warping needs); otherwise the draws themselves.
    """
    import tensorflow as tf

    steps = x.shape[1]
    positions = np.linspace(0.0, steps - 1.0, knots + 2)
    matrix = tf.constant(spline_matrix(positions, np.arange(steps)), tf.float32)
    shape = tf.stack([tf.shape(x)[0], knots + 2, tf.shape(x)[2]])
    values = tf.random.stateless_normal(shape, seed, mean=1.0, stddev=sigma)
    if scale_by_position:
        values = values * tf.constant(positions, tf.float32)[None, :, None]
    return tf.einsum("ln,bnc->blc", matrix, values)


def jitter(x: Any, sigma: float, seed: Any) -> Any:
    """Jittering (Um et al. 2017): `x' = x + e`, `e ~ N(0, sigma^2)` drawn per element.

    Args:
        x: A float batch `(batch, steps, channels)`.
        sigma: The noise's standard deviation, in the inputs' units.
        seed: An int tensor of shape `[2]`.

    Returns:
        The jittered batch.
    """
    import tensorflow as tf

    return x + sigma * tf.random.stateless_normal(tf.shape(x), seed, dtype=x.dtype)


def scaling(x: Any, sigma: float, seed: Any) -> Any:
    """Scaling (Um et al. 2017): `x'[:, c] = a_c * x[:, c]`, `a_c ~ N(1, sigma^2)` per sample and channel.

    Args:
        x: A float batch `(batch, steps, channels)`.
        sigma: The factors' standard deviation.
        seed: An int tensor of shape `[2]`.

    Returns:
        The scaled batch.
    """
    import tensorflow as tf

    shape = tf.stack([tf.shape(x)[0], 1, tf.shape(x)[2]])
    return x * tf.random.stateless_normal(shape, seed, mean=1.0, stddev=sigma, dtype=x.dtype)


def magnitude_warp(x: Any, sigma: float, knots: int, seed: Any) -> Any:
    """Magnitude warping (Um et al. 2017): `x'(t) = x(t) * s(t)`, `s` a smooth random curve.

    `s` is the cubic spline (not-a-knot) through `knots + 2` points evenly spaced over
    the steps (both ends included) with values `~ N(1, sigma^2)`, drawn per sample and
    channel.

    Args:
        x: A float batch `(batch, steps, channels)`.
        sigma: The knot values' standard deviation.
        knots: The number of inner knots, >= 2.
        seed: An int tensor of shape `[2]`.

    Returns:
        The warped batch.
    """
    return x * _curves(x, sigma, knots, seed, scale_by_position=False)


def time_warp(x: Any, sigma: float, knots: int, seed: Any) -> Any:
    """Time warping (Um et al. 2017): the series resampled along a smooth random time axis.

    As in Iwana & Uchida's code: `w(t)` is the cubic spline through the points
    `(k_j, k_j * a_j)`, `k_j` the `knots + 2` evenly spaced positions and
    `a_j ~ N(1, sigma^2)` (per sample and channel), rescaled so that `w(L - 1) = L - 1`
    and clipped to `[0, L - 1]`; the output is `np.interp(t, w, x)` for
    `t = 0 .. L - 1`, linear interpolation of the samples placed at the warped times. A
    strong warp can fold back (`w` not increasing); `w` is then taken as its running
    maximum, so the signal holds still where time would run backwards. `sigma = 0` gives
    the series unchanged.

    Args:
        x: A float batch `(batch, steps, channels)`.
        sigma: The knot factors' standard deviation.
        knots: The number of inner knots, >= 2.
        seed: An int tensor of shape `[2]`.

    Returns:
        The warped batch.
    """
    import tensorflow as tf

    steps = x.shape[1]
    warped = _curves(x, sigma, knots, seed, scale_by_position=True)  # (batch, steps, channels)
    warped = tf.clip_by_value(warped * ((steps - 1.0) / warped[:, -1:, :]), 0.0, steps - 1.0)
    warped = tf.transpose(tf.scan(tf.maximum, tf.transpose(warped, [1, 0, 2])), [1, 2, 0])
    values = tf.transpose(x, [0, 2, 1])  # (batch, channels, steps), as searchsorted needs
    times = tf.broadcast_to(tf.range(steps, dtype=x.dtype), tf.shape(warped))
    return tf.transpose(_interp(times, warped, values), [0, 2, 1])


def _interp(t: Any, xp: Any, fp: Any) -> Any:
    """`np.interp(t, xp, fp)` along the last axis, batched (`xp` non-decreasing)."""
    import tensorflow as tf

    steps = xp.shape[-1]
    left = tf.clip_by_value(tf.searchsorted(xp, t, side="right") - 1, 0, steps - 2)
    x0, x1 = tf.gather(xp, left, batch_dims=2), tf.gather(xp, left + 1, batch_dims=2)
    f0, f1 = tf.gather(fp, left, batch_dims=2), tf.gather(fp, left + 1, batch_dims=2)
    gap = x1 - x0
    frac = tf.clip_by_value(tf.math.divide_no_nan(t - x0, gap), 0.0, 1.0)
    frac = tf.where(gap > 0, frac, tf.cast(t >= x1, frac.dtype))  # a flat step: take its right end
    return f0 + frac * (f1 - f0)


def window_length(steps: int, ratio: float) -> int:
    """The cropped window's length, `ceil(ratio * steps)` (as in Iwana & Uchida's code)."""
    return math.ceil(ratio * steps - 1e-9)


def window_slice(x: Any, ratio: float, seed: Any) -> Any:
    """Window slicing (Le Guennec et al. 2016): crop a window and stretch it back to length.

    A window of `w = ceil(ratio * L)` steps starts at `s ~ U{0, ..., L - w}` (per
    sample; all channels share it) and is stretched to `L` steps by linear interpolation:
    `x' = np.interp(np.linspace(0, w - 1, L), np.arange(w), x[s:s + w])`. (Iwana & Uchida's
    code interpolates at `np.linspace(0, w, L)`, one step past the window's end, so its
    last sample repeats; this follows the paper, which stretches the window exactly.)

    Args:
        x: A float batch `(batch, steps, channels)`.
        ratio: The window's share of the steps, in (0, 1], with `w >= 2`.
        seed: An int tensor of shape `[2]`.

    Returns:
        The sliced batch.
    """
    import tensorflow as tf

    steps = x.shape[1]
    width = window_length(steps, ratio)
    start = tf.random.stateless_uniform([tf.shape(x)[0]], seed, maxval=steps - width + 1,
                                        dtype=tf.int32)
    positions = np.linspace(0.0, width - 1.0, steps)
    left = np.minimum(np.floor(positions), width - 2).astype(np.int32)
    frac = tf.constant((positions - left)[None, :, None], x.dtype)
    index = start[:, None] + tf.constant(left)[None, :]
    x0, x1 = tf.gather(x, index, batch_dims=1), tf.gather(x, index + 1, batch_dims=1)
    return x0 + frac * (x1 - x0)
