"""Mask selection by magnitude: unstructured, N:M and block, per layer or across layers.

Private to `kerasopt.compression.pruning`. Everything is written with `keras.ops` and runs
on the device that holds the weights. Counts are exact: ties are broken by `top_k`, so a
mask always prunes precisely the number of units asked for.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

import numpy as np
from keras import ops


def prune_count(units: int, sparsity: float) -> int:
    """How many of `units` to prune: those not kept, with `max(1, round(units * (1 - sparsity)))` kept.

    This is tensorflow-model-optimization's count (`pruning_impl.Pruning._update_mask`):
    the kept count is rounded (half to even) and at least one unit (weight, or block) is
    always kept, so no sparsity below 1 prunes a whole kernel (tfmot's
    `testExtremelySparseMask`: 100 weights at 0.9999 keep 1). A joint (global-scope)
    ranking keeps at least one unit across all its kernels.

    Example:
        >>> prune_count(100, 0.9999), prune_count(10, 0.25), prune_count(80, 0.2)
        (99, 2, 16)
    """
    return units - max(1, int(round(units * (1.0 - float(sparsity)))))


def keep_largest(scores: Any, num_prune: int) -> Any:
    """A float32 0/1 mask of `scores`' shape that zeroes exactly its `num_prune` smallest entries."""
    flat = ops.reshape(scores, (-1,))
    size = int(flat.shape[0])
    keep = ops.ones((size,), "float32")
    if num_prune > 0:
        _, index = ops.top_k(ops.negative(flat), num_prune, sorted=False)
        keep = ops.scatter_update(keep, ops.expand_dims(index, -1),
                                  ops.zeros((num_prune,), "float32"))
    return ops.reshape(keep, tuple(scores.shape))


def _block_lengths(length: int, block: int) -> np.ndarray:
    lengths = np.full(math.ceil(length / block), block, dtype="float32")
    lengths[-1] = length - block * (len(lengths) - 1)
    return lengths


def block_scores(magnitude: Any, block_shape: Sequence[int]) -> Any:
    """Mean magnitude of each block tiling the last two axes (edge blocks may be partial).

    Returns:
        A tensor of shape `(..., ceil(rows / a), ceil(cols / b))` for blocks `(a, b)`.
    """
    a, b = block_shape
    shape = tuple(magnitude.shape)
    rows, cols = shape[-2], shape[-1]
    n_rows, n_cols = math.ceil(rows / a), math.ceil(cols / b)
    padding = [(0, 0)] * (len(shape) - 2) + [(0, n_rows * a - rows), (0, n_cols * b - cols)]
    blocks = ops.reshape(ops.pad(magnitude, padding), (*shape[:-2], n_rows, a, n_cols, b))
    counts = np.outer(_block_lengths(rows, a), _block_lengths(cols, b))
    return ops.divide(ops.sum(blocks, axis=(-3, -1)), counts)


def expand_blocks(block_mask: Any, block_shape: Sequence[int], shape: Sequence[int]) -> Any:
    """Spread a per-block mask back over the weight of the given `shape`."""
    a, b = block_shape
    full = ops.repeat(ops.repeat(block_mask, a, axis=-2), b, axis=-1)
    return ops.slice(full, [0] * len(shape), list(shape))


def n_of_m(magnitude: Any, n: int, m: int, axis: int) -> Any:
    """Keep the `n` largest of every `m` consecutive entries along `axis` (a float32 0/1 mask).

    The length of `axis` must be a multiple of `m`.
    """
    moved = ops.moveaxis(magnitude, axis, -1)
    moved_shape = tuple(moved.shape)
    groups = ops.reshape(moved, (*moved_shape[:-1], moved_shape[-1] // m, m))
    _, index = ops.top_k(groups, n, sorted=False)
    keep = ops.sum(ops.one_hot(index, m, dtype="float32"), axis=-2)
    return ops.moveaxis(ops.reshape(keep, moved_shape), -1, axis)


def prune_jointly(wrappers: Sequence[Any], sparsity: float) -> None:
    """Prune the weights of several wrappers against one magnitude ranking.

    Every wrapper contributes its scoring units (weights, or blocks with their mean
    magnitude, as its `pruning_scores()` returns them, unscaled); the lowest-scoring
    `prune_count(total units, sparsity)` of all of them are pruned. With one wrapper this
    is per-layer pruning.

    Args:
        wrappers: `PruneLowMagnitude` layers with the same structure (not "n:m").
        sparsity: Target fraction of pruned units, in [0, 1).
    """
    scores = [wrapper.pruning_scores() for wrapper in wrappers]
    sizes = [int(np.prod(s.shape)) for s in scores]
    flat = ops.concatenate([ops.reshape(s, (-1,)) for s in scores], axis=0)
    keep = keep_largest(flat, prune_count(sum(sizes), sparsity))
    offset = 0
    for wrapper, score, size in zip(wrappers, scores, sizes, strict=True):
        part = ops.reshape(ops.slice(keep, [offset], [size]), tuple(score.shape))
        wrapper.apply_unit_mask(part)
        offset += size
