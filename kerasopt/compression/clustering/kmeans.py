"""One-dimensional k-means (Lloyd's algorithm) over the values of a weight tensor.

Weight clustering groups the scalar values of a kernel, so the problem is k-means on a
line. On a line, the points nearest each of a sorted set of centroids form contiguous runs
of the sorted values, split at the midpoints between neighbouring centroids. One sort up
front therefore turns every Lloyd iteration into a `searchsorted` of the k - 1 midpoints
and k differences of a cumulative sum: O(k log n) per iteration instead of O(n k), which
keeps clustering a kernel of millions of weights well under a second.

The result is the ordinary Lloyd fixed point: every value belongs to its nearest centroid
(a value exactly halfway between two goes to the lower one, as `argmin` of the distances
would), every centroid is the mean of its values, and a centroid left without values keeps
its place, as in tfmot's clustering.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from kerasopt.callbacks.monitor import check_choice, check_int

INITS: tuple[str, ...] = ("linear", "kmeans++")
"""Centroid initializations: evenly spaced between min and max, or k-means++ seeding."""

MAX_ITERATIONS = 300
"""Lloyd iterations allowed before giving up on the assignments settling (as scikit-learn)."""


def check_clustering_args(number_of_clusters: Any, init: Any, seed: Any) -> None:
    """Validate the arguments every clustering entry point shares.

    Raises:
        ValueError: Naming the argument, what is allowed and the value received.
    """
    check_int("number_of_clusters", number_of_clusters, 2)
    check_choice("init", init, INITS)
    check_int("seed", seed, 0)


def linear_init(values: np.ndarray, number_of_clusters: int) -> np.ndarray:
    """Centroids evenly spaced from the smallest value to the largest (tfmot's LINEAR)."""
    return np.linspace(values.min(), values.max(), number_of_clusters)


def kmeans_plus_plus_init(values: np.ndarray, number_of_clusters: int, seed: int) -> np.ndarray:
    """k-means++ seeding (Arthur & Vassilvitskii, 2007), sorted ascending.

    The first centroid is a value drawn uniformly; each further one is a value drawn with
    probability proportional to its squared distance from the nearest centroid so far.
    Draws use `numpy.random.default_rng(seed)`: `integers(n)` for the first, then
    `choice(n, p=d2 / d2.sum())`, so the same seed gives the same centroids.
    The caller guarantees more distinct values than clusters, so every draw has a value
    at a positive distance to pick.
    """
    rng = np.random.default_rng(seed)
    chosen = [values[rng.integers(values.size)]]
    d2 = np.square(values - chosen[0])
    for _ in range(number_of_clusters - 1):
        pick = values[rng.choice(values.size, p=d2 / d2.sum())]
        chosen.append(pick)
        d2 = np.minimum(d2, np.square(values - pick))
    return np.sort(np.asarray(chosen))


def kmeans_1d(
    values: Any,
    number_of_clusters: int,
    *,
    init: str = "kmeans++",
    seed: int = 0,
    max_iterations: int = MAX_ITERATIONS,
) -> tuple[np.ndarray, np.ndarray]:
    """Cluster scalar values with Lloyd's algorithm until no assignment changes.

    Computation is in float64. When the values hold at most `number_of_clusters` distinct
    numbers, each distinct number is its own cluster (that is the optimum, with zero
    error), so fewer centroids than asked are returned; re-clustering an already clustered
    kernel therefore reproduces its partition exactly.

    Args:
        values: Array of any shape; it is flattened. Must be non-empty and finite.
        number_of_clusters: k, at least 2.
        init: `"linear"` (k centroids evenly spaced between the minimum and the maximum)
            or `"kmeans++"` (seeded k-means++ draws). Defaults to `"kmeans++"`.
        seed: Seed of the k-means++ draws (unused by `"linear"`). Defaults to `0`.
        max_iterations: Cap on Lloyd iterations. Defaults to `300`.

    Returns:
        `(centroids, labels)`: centroids sorted ascending (float64, length k, or the
        number of distinct values when smaller) and, for each flattened value, the index
        of its centroid (int32).

    Raises:
        ValueError: For an invalid argument, or empty or non-finite values.

    Example:
        >>> centroids, labels = kmeans_1d([0.0, 0.1, 0.9, 1.0, 1.1], 2, init="linear")
        >>> centroids.round(6).tolist(), labels.tolist()
        ([0.05, 1.0], [0, 0, 1, 1, 1])
    """
    check_clustering_args(number_of_clusters, init, seed)
    check_int("max_iterations", max_iterations, 1)
    x = np.asarray(values, dtype=np.float64).ravel()
    if x.size == 0 or not np.all(np.isfinite(x)):
        raise ValueError("`values` must be a non-empty array of finite numbers. "
                         f"Received {x.size} values, {int(np.sum(~np.isfinite(x)))} not finite.")
    order = np.argsort(x, kind="stable")
    ordered = x[order]
    labels = np.empty(x.size, dtype=np.int32)
    new_value = np.concatenate([[True], ordered[1:] != ordered[:-1]])
    if np.count_nonzero(new_value) <= number_of_clusters:
        labels[order] = np.cumsum(new_value) - 1
        return ordered[new_value], labels
    if init == "linear":
        centroids = linear_init(x, number_of_clusters)
    else:
        centroids = kmeans_plus_plus_init(x, number_of_clusters, seed)
    cumulative = np.concatenate([[0.0], np.cumsum(ordered)])
    cuts = None
    for _ in range(max_iterations):
        # Values up to and including a midpoint go to the lower centroid (argmin's tie rule).
        new_cuts = np.searchsorted(ordered, (centroids[:-1] + centroids[1:]) / 2, side="right")
        if cuts is not None and np.array_equal(new_cuts, cuts):
            break
        cuts = new_cuts
        starts = np.concatenate([[0], cuts])
        ends = np.concatenate([cuts, [x.size]])
        counts = ends - starts
        sums = cumulative[ends] - cumulative[starts]
        centroids = np.where(counts > 0, sums / np.maximum(counts, 1), centroids)
    starts = np.concatenate([[0], cuts])
    ends = np.concatenate([cuts, [x.size]])
    labels[order] = np.repeat(np.arange(number_of_clusters, dtype=np.int32), ends - starts)
    return centroids, labels
