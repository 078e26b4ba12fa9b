"""The constraint that keeps a clustered kernel's weights shared through training."""

from __future__ import annotations

from typing import Any

import keras


class ClusterMeanConstraint(keras.constraints.Constraint):
    """Replace every weight by the mean of its cluster, after any earlier constraint.

    Keras 3 optimizers apply a variable's constraint right after each update. When all
    weights of a cluster held the shared value `c` before the step and moved to `c + u_i`,
    the mean of the cluster is `c + mean(u_i)`: the shared value moves by the mean update
    of its members, and the weights are shared again. This works with any optimizer, since
    it only looks at the weights after the update.

    Cluster assignments are read from an integer variable at every call, so assigning new
    indices (or loading them from a checkpoint) takes effect at the next step. Entries
    whose index equals `number_of_clusters` belong to no cluster (the sparsity mask zeroes
    them afterwards) and do not enter any mean.

    Not registered for serialization on purpose, like
    :class:`kerasopt.compression.masking.MaskConstraint`: it is set on the *variable* by
    :class:`~kerasopt.compression.clustering.ClusteredLayer`, which owns the index
    variable and sets the constraint again whenever it is built.

    Args:
        indices: Integer variable of the weight's shape, each entry in
            `[0, number_of_clusters]`.
        number_of_clusters: k.
        previous: The weight's constraint before clustering, applied first.
            Defaults to `None`.
    """

    def __init__(self, indices: Any, number_of_clusters: int, previous: Any = None) -> None:
        self.indices = indices
        self.number_of_clusters = number_of_clusters
        self.previous = previous

    def __call__(self, w: Any) -> Any:
        if self.previous is not None:
            w = self.previous(w)
        ops = keras.ops
        flat = ops.reshape(w, (-1,))
        ids = ops.reshape(ops.convert_to_tensor(self.indices), (-1,))
        segments = self.number_of_clusters + 1  # the last one gathers the unclustered entries
        sums = ops.segment_sum(flat, ids, num_segments=segments)
        counts = ops.segment_sum(ops.ones_like(flat), ids, num_segments=segments)
        means = sums / ops.maximum(counts, 1.0)
        return ops.reshape(ops.take(means, ids), ops.shape(w))
