"""Collective checks between the workers of a multi-worker run: weights in lockstep, a barrier.

Both are collective operations: under a multi-worker strategy every worker must call them
at the same point of the program, or the callers wait for the others.
"""

from __future__ import annotations

from typing import Any

import keras
import numpy as np


def weights_divergence(strategy: Any, model: keras.Model) -> float:
    """How far the workers' copies of the model's weights are apart.

    Each worker's weights (as its process reads them), flattened into one float64 vector
    `w_r`, are averaged across all replicas (`w_bar`, an all-reduce); the result is
    `sum_r max_i |w_r[i] - w_bar[i]|` over the replicas: 0.0 exactly when every worker
    holds the same weights, and otherwise at least the largest single difference from
    the mean. Synchronous data-parallel training keeps it at 0.0; anything else means the
    workers fell out of lockstep.

    Args:
        strategy: The `tf.distribute.Strategy` the model was built under.
        model: The model.

    Returns:
        The divergence (0.0 for a model without weights).

    Example:
        >>> import tensorflow as tf
        >>> model = keras.Sequential([keras.Input((3,)), keras.layers.Dense(2)])
        >>> weights_divergence(tf.distribute.get_strategy(), model)
        0.0
    """
    import tensorflow as tf

    arrays = [np.ravel(keras.ops.convert_to_numpy(w)).astype(np.float64) for w in model.weights]
    if not arrays:
        return 0.0
    local = tf.constant(np.concatenate(arrays))

    @tf.function
    def divergence() -> Any:
        mean = strategy.reduce("MEAN", strategy.run(tf.identity, args=(local,)), axis=None)
        gap = strategy.run(lambda: tf.reduce_max(tf.abs(local - mean)))
        return strategy.reduce("SUM", gap, axis=None)

    return float(divergence())


def barrier(strategy: Any) -> int:
    """Wait until every replica has reached this call; returns the replica count.

    Example:
        >>> import tensorflow as tf
        >>> barrier(tf.distribute.get_strategy())
        1
    """
    import tensorflow as tf

    @tf.function
    def count() -> Any:
        return strategy.reduce("SUM", strategy.run(lambda: tf.constant(1, tf.int32)), axis=None)

    return int(count())
