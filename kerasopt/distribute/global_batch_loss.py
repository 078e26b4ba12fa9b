"""The gradient of the global batch's mean loss under several replicas, also for partial batches.

Under a `tf.distribute` strategy Keras 3 (checked through 3.15.1) computes each replica's
loss as the mean over *its* share of the global batch divided by the replica count `R`
(`keras/src/losses/loss.py`: `reduce_values` then `scale_loss_for_distribution`), and sums
the replicas' gradients: the gradient of the mean of the per-replica means. That is the
global batch's mean only when every replica holds `N / R` samples. `tf.distribute` splits a
partial last batch unevenly (3 samples over 2 replicas: 2 and 1; 1 sample: 1 and 0), so
that step's gradient differs from one device's (67 samples, batch 16, 2 replicas: the
loss curves part by ~3e-3 in three epochs of a small MLP).

The correction, within :func:`global_batch_mean_loss`: each replica's loss keeps Keras's
value (so the loss Keras logs, weighted by each replica's sample count, stays exact) and
gets the gradient of `sum_over_this_replica / N_global`, with `N_global` summed over the
replicas (one all-reduce of a scalar per loss and step):
`loss = stop_gradient(keras_value) + (local_sum / N_global - stop_gradient(local_sum / N_global))`.
Summed over replicas, the gradients are those of the global batch's mean, as on one device.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterator
from typing import Any

MEAN_REDUCTIONS = ("sum_over_batch_size", "mean", "mean_with_sample_weight")


@contextlib.contextmanager
def global_batch_mean_loss() -> Iterator[None]:
    """Within the block, mean-reduced Keras losses have the global batch's gradient under several replicas.

    Process-wide while the block runs (Keras's loss reduction is shared by every loss),
    undone afterwards. Outside a replica context with several replicas nothing changes.
    """
    from kerasopt._keras_compat import loss_reduction_module

    loss_module = loss_reduction_module()
    original = loss_module.reduce_values
    loss_module.reduce_values = _global_reduce_values(original)
    try:
        yield
    finally:
        loss_module.reduce_values = original


def _global_reduce_values(original: Callable[..., Any]) -> Callable[..., Any]:
    import tensorflow as tf
    from keras import ops

    def reduce_values(values: Any, sample_weight: Any = None, reduction: str = "sum_over_batch_size") -> Any:
        value = original(values, sample_weight=sample_weight, reduction=reduction)
        context = tf.distribute.get_replica_context()
        if (reduction not in MEAN_REDUCTIONS or context is None or context.num_replicas_in_sync < 2
                or tuple(values.shape) == ()):
            return value
        total = ops.sum(values)
        if reduction == "mean_with_sample_weight" and sample_weight is not None:
            count = ops.cast(ops.sum(sample_weight), total.dtype)
        else:
            count = ops.cast(ops.size(values), total.dtype)
        global_count = context.all_reduce(tf.distribute.ReduceOp.SUM, count)
        share = ops.divide_no_nan(total, global_count)
        return ops.stop_gradient(value) + (share - ops.stop_gradient(share))

    return reduce_values
