"""Truncated SVD of a 2-D kernel and the rank rules: retained energy or a parameter budget.

A kernel `W` of shape `(m, n)` (a Dense kernel, or a convolution kernel reshaped to
`(k * k * cin, cout)`) is replaced by `A @ B` with `A = U_r sqrt(S_r)` of shape `(m, r)`
and `B = sqrt(S_r) V_r^T` of shape `(r, n)`: the best rank-`r` approximation in the
Frobenius norm (Eckart & Young, 1936), whose squared error is the sum of the discarded
squared singular values. The two factors hold `r * (m + n)` weights against `m * n`, so a
rank reduces parameters only when `r < m * n / (m + n)`.
"""

from __future__ import annotations

import math

import numpy as np


def check_rank_args(energy: float | None, params_ratio: float | None) -> None:
    """Raise a ValueError unless exactly one of `energy` (in (0, 1]) and `params_ratio` (in (0, 1)) is given."""
    if (energy is None) == (params_ratio is None):
        raise ValueError("Give exactly one of `energy` (the fraction of the squared singular values "
                         "kept, in (0, 1]) and `params_ratio` (the factors' weights as a fraction of the "
                         f"kernel's, in (0, 1)). Received: energy={energy!r}, params_ratio={params_ratio!r}")
    if energy is not None and not (_is_number(energy) and 0.0 < energy <= 1.0):
        raise ValueError(f"`energy` must be a number in (0, 1]. Received: energy={energy!r}")
    if params_ratio is not None and not (_is_number(params_ratio) and 0.0 < params_ratio < 1.0):
        raise ValueError(f"`params_ratio` must be a number in (0, 1). Received: params_ratio={params_ratio!r}")


def _is_number(value: object) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)


def max_useful_rank(m: int, n: int) -> int:
    """The largest rank whose two factors hold fewer weights than the `(m, n)` kernel (0: none)."""
    return (m * n - 1) // (m + n)


def choose_rank(singular_values: np.ndarray, shape: tuple[int, int], *, energy: float | None = None,
                params_ratio: float | None = None) -> int:
    """The rank that keeps `energy` of the squared singular values, or fits `params_ratio` of the weights.

    Args:
        singular_values: The kernel's singular values, largest first.
        shape: The 2-D kernel's shape `(m, n)`.
        energy: The smallest rank `r` with `sum(s[:r]**2) >= energy * sum(s**2)`.
        params_ratio: The largest rank `r >= 1` with `r * (m + n) <= params_ratio * m * n`.

    Returns:
        The rank, between 1 and `min(m, n)` (it may not reduce parameters: see
        :func:`max_useful_rank`).

    Example:
        >>> choose_rank(np.array([3.0, 1.0, 0.0]), (3, 3), energy=0.9)
        1
        >>> choose_rank(np.array([3.0, 1.0, 0.0]), (3, 3), energy=1.0)
        2
        >>> choose_rank(np.ones(64), (64, 64), params_ratio=0.5)
        16
    """
    check_rank_args(energy, params_ratio)
    m, n = shape
    if params_ratio is not None:
        return max(1, min(min(m, n), int(params_ratio * m * n // (m + n))))
    squares = np.asarray(singular_values, dtype=np.float64) ** 2
    total = float(squares.sum())
    if total == 0.0:
        return 1
    kept = np.cumsum(squares) / total
    # A small tolerance so that energy=1.0 asks for the nonzero singular values only.
    return int(min(len(squares), np.searchsorted(kept, energy - 1e-12) + 1))


def truncated_factors(kernel: np.ndarray, rank: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """`A` `(m, rank)` and `B` `(rank, n)` with `A @ B` the best rank-`rank` approximation of `kernel`.

    The singular values are split evenly (`sqrt(s)` into each factor), so both factors
    have the same scale, which suits fine-tuning and int8 quantization alike.

    Args:
        kernel: A 2-D array.
        rank: Between 1 and `min(kernel.shape)`.

    Returns:
        `A`, `B` (in the kernel's dtype) and every singular value of `kernel` (float64).
    """
    matrix = np.asarray(kernel, dtype=np.float64)
    if not 1 <= rank <= min(matrix.shape):
        raise ValueError(f"`rank` must be between 1 and min{matrix.shape} = {min(matrix.shape)}. "
                         f"Received: rank={rank!r}")
    u, s, vt = np.linalg.svd(matrix, full_matrices=False)
    root = np.sqrt(s[:rank])
    a = (u[:, :rank] * root).astype(kernel.dtype)
    b = (root[:, None] * vt[:rank]).astype(kernel.dtype)
    return a, b, s
