"""Sums over the replicas of a `tf.distribute` strategy, for updates that combine gradients.

Under a distribution strategy Keras's train step runs once per replica on that replica's
share of the global batch, with the loss divided by the number of replicas (so the
gradients *summed* over replicas are the gradients of the global-batch loss). Keras sums
the gradients itself just before `update_step`. An optimizer that looks at the gradient
before that point (clipping by norm, a line search, SAM's ascent step, a Hessian-vector
product) must sum first, or it computes with one replica's share. These helpers do that
sum with public TensorFlow API, and do nothing outside a replica context, with one replica,
or on another backend, so the one-device numbers are unchanged.
"""

from __future__ import annotations

from typing import Any

import keras


def replica_count() -> int:
    """Replicas taking part in the current step (1 outside a multi-replica replica context)."""
    if keras.backend.backend() != "tensorflow":
        return 1
    import tensorflow as tf

    context = tf.distribute.get_replica_context()
    if context is None:  # cross-replica context: values are already whole
        return 1
    return int(context.num_replicas_in_sync)


def strategy_name() -> str | None:
    """Class name of the active `tf.distribute` strategy when it has several replicas, else None."""
    if keras.backend.backend() != "tensorflow":
        return None
    import tensorflow as tf

    strategy = tf.distribute.get_strategy()
    return type(strategy).__name__ if strategy.num_replicas_in_sync > 1 else None


def sum_over_replicas(values: list[Any]) -> list[Any]:
    """Every tensor of `values` summed over the replicas (the identity on one replica).

    Args:
        values: Tensors (None entries are kept as None).

    Returns:
        The sums, in the order of `values`; every replica receives the same numbers.
    """
    if replica_count() == 1:
        return list(values)
    import tensorflow as tf

    present = [v for v in values if v is not None]
    if not present:
        return list(values)
    summed = iter(tf.distribute.get_replica_context().all_reduce(tf.distribute.ReduceOp.SUM, present))
    return [None if v is None else next(summed) for v in values]


def max_over_replicas(value: Any) -> Any:
    """The largest of the replicas' values of a tensor, element-wise (the identity on one replica)."""
    if replica_count() == 1:
        return value
    import tensorflow as tf

    gathered = tf.distribute.get_replica_context().all_gather(tf.expand_dims(value, 0), axis=0)
    return tf.reduce_max(gathered, axis=0)


def min_over_replicas(value: Any) -> Any:
    """The smallest of the replicas' values of a tensor, element-wise (the identity on one replica)."""
    return -max_over_replicas(-value)


def refuse_accumulation_under_replicas(optimizer: Any) -> None:
    """Raise when `optimizer` accumulates gradients under a strategy with several replicas.

    Keras 3 applies accumulated gradients inside a conditional (`ops.cond`), and the
    cross-replica sum of `tf.distribute` cannot run there, so such a step fails in tracing
    with an error about `merge_call`; this says what to do instead.

    Raises:
        ValueError: Naming the strategy and the way out.
    """
    steps = getattr(optimizer, "gradient_accumulation_steps", None)
    name = strategy_name()
    if steps and name is not None:
        import tensorflow as tf

        replicas = tf.distribute.get_strategy().num_replicas_in_sync
        raise ValueError(
            f"{type(optimizer).__name__}: `gradient_accumulation_steps` does not work under "
            f"{name} ({replicas} replicas): Keras 3 applies accumulated gradients inside a "
            "conditional, where tf.distribute cannot sum gradients over replicas. Raise the "
            "batch size instead (under a strategy it is the global batch, split over the "
            f"replicas), or train on one device. Received: gradient_accumulation_steps={steps}")
