"""Sparse gradients: the one place kerasopt's optimizers read `tf.IndexedSlices`.

The TensorFlow backend gives the gradient of an `Embedding` (or `ops.take`) lookup as a
`tf.IndexedSlices`: one row of values per looked-up index, so an index seen twice in a
batch (a repeated token) appears twice. The gradient it stands for is the *sum* of its
rows per index. Elementwise ops on the slices act on each duplicate separately, so an
update that squares or normalizes the gradient (g^2, ||g||, sign(g)) would sum g_i^2
where the dense gradient has (sum g_i)^2. Every kerasopt optimizer therefore merges
duplicates first, through `merge_duplicates` (rows stay sparse, for lazy row updates)
or `densify` (the dense gradient, for updates that touch every row).

On the JAX and torch backends gradients are always dense; both functions return them
unchanged, and TensorFlow is only imported on the TensorFlow backend.
"""

from __future__ import annotations

from typing import Any

import keras


def is_sparse(gradient: Any) -> bool:
    """Whether `gradient` is a `tf.IndexedSlices` (TensorFlow backend only)."""
    if gradient is None or keras.backend.backend() != "tensorflow":
        return False
    import tensorflow as tf

    return isinstance(gradient, tf.IndexedSlices)


def merge_duplicates(gradient: Any) -> Any:
    """The same gradient with each index once, its rows summed; dense gradients unchanged.

    Args:
        gradient: A gradient tensor, a `tf.IndexedSlices`, or None.

    Returns:
        A `tf.IndexedSlices` with unique indices (in order of first appearance) for a
        sparse gradient; `gradient` itself otherwise.
    """
    if not is_sparse(gradient):
        return gradient
    import tensorflow as tf

    rows, positions = tf.unique(gradient.indices)
    values = tf.math.unsorted_segment_sum(gradient.values, positions, tf.shape(rows)[0])
    return tf.IndexedSlices(values, rows, gradient.dense_shape)


def densify(gradient: Any) -> Any:
    """The dense gradient a `tf.IndexedSlices` stands for (duplicate rows summed).

    Args:
        gradient: A gradient tensor, a `tf.IndexedSlices`, or None.

    Returns:
        A dense tensor of the variable's shape for a sparse gradient; `gradient` itself
        otherwise.
    """
    if not is_sparse(gradient):
        return gradient
    import tensorflow as tf

    if gradient.dense_shape is None:
        raise ValueError(
            "A sparse gradient (tf.IndexedSlices) without `dense_shape` cannot be turned "
            f"into the dense gradient it stands for. Received: {gradient!r}"
        )
    rows = tf.cast(gradient.dense_shape[0], gradient.indices.dtype)
    summed = tf.math.unsorted_segment_sum(gradient.values, gradient.indices, rows)
    return tf.reshape(summed, gradient.dense_shape)


def row_slices(values: Any, rows: Any, dense_shape: Any) -> Any:
    """A `tf.IndexedSlices` of `values` at `rows`, for `optimizer.assign` to scatter.

    Only called with rows taken from a sparse gradient, so on the TensorFlow backend.
    """
    import tensorflow as tf

    return tf.IndexedSlices(values, rows, dense_shape)


def prepare_gradients(grads: Any, lazy: bool) -> list[Any]:
    """Merge duplicate rows of every sparse gradient (`lazy`), or densify them.

    Args:
        grads: The gradients handed to `apply`, one per variable (None allowed).
        lazy: Keep sparse gradients sparse, with unique indices (an optimizer that
            updates only the rows present); otherwise make them dense.

    Returns:
        The list of gradients.
    """
    convert = merge_duplicates if lazy else densify
    return [convert(g) for g in grads]
