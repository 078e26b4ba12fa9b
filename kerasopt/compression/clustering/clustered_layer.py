"""A wrapper that clusters a layer's kernel and keeps it clustered while the model trains."""

from __future__ import annotations

from typing import Any

import keras
import numpy as np

from kerasopt._backend import require_tensorflow
from kerasopt.compression import layers as selection
from kerasopt.compression.clustering.cluster_mean_constraint import ClusterMeanConstraint
from kerasopt.compression.clustering.kmeans import check_clustering_args, kmeans_1d
from kerasopt.compression.masking import MaskConstraint, attach_mask
from kerasopt.registry import register

SUPPORTED_LAYER_TYPES: tuple[type, ...] = (
    keras.layers.Dense, keras.layers.EinsumDense,
    keras.layers.Conv1D, keras.layers.Conv2D, keras.layers.Conv3D,
    keras.layers.Conv1DTranspose, keras.layers.Conv2DTranspose, keras.layers.Conv3DTranspose,
    keras.layers.DepthwiseConv1D, keras.layers.DepthwiseConv2D,
)
"""Layers whose `kernel` can be clustered: each uses its one kernel variable in `call`.

Matched by exact type: a subclass may compute with its kernel differently. A custom layer
opts in with a `get_clusterable_weights()` method (see :mod:`kerasopt.compression.layers`).
"""


def supported_type_names() -> str:
    """The supported layer types as one comma-separated string, for error messages."""
    return ", ".join(t.__name__ for t in SUPPORTED_LAYER_TYPES)


def is_clusterable(layer: Any) -> bool:
    """Whether `layer` is of a supported type exactly, or opts in with `get_clusterable_weights()`."""
    return selection.is_supported(layer, SUPPORTED_LAYER_TYPES, selection.CLUSTERING_OPT_IN)


def clustered_variable(layer: Any) -> Any:
    """The variable clustered in a built clusterable `layer`: its `kernel`, or the one
    weight its `get_clusterable_weights()` returns."""
    if type(layer) in SUPPORTED_LAYER_TYPES:
        return layer.kernel
    return selection.opted_in_weight(layer, selection.CLUSTERING_OPT_IN)


def check_clusterable(layer: Any) -> None:
    """Refuse a layer whose kernel cannot be clustered, naming it and what is supported.

    The layer must pass :func:`is_clusterable`; once built, its clustered variable must be
    a floating-point variable (LoRA and Keras quantization replace the kernel).

    Raises:
        ValueError: Naming the layer, the reason and the supported types.
    """
    name = getattr(layer, "name", layer)
    if not is_clusterable(layer):
        subclass = ""
        if isinstance(layer, SUPPORTED_LAYER_TYPES):
            subclass = (" It subclasses a supported type, but layers are matched by exact type "
                        "(a subclass may compute with its kernel differently); give it a "
                        "`get_clusterable_weights()` method returning the weight to cluster to "
                        "opt in.")
        raise ValueError(f"Layer {name!r} ({selection.type_description(layer)}) cannot be "
                         f"clustered. Supported layer types: {supported_type_names()}, or a "
                         f"layer with a `get_clusterable_weights()` method.{subclass}")
    if not layer.built:
        return
    kernel = clustered_variable(layer)
    if not isinstance(kernel, keras.Variable) or "float" not in str(kernel.dtype):
        raise ValueError(
            f"Layer {name!r} has no floating-point kernel variable to cluster "
            f"(LoRA or quantization replaces it; its kernel is a {type(kernel).__name__} of "
            f"dtype {kernel.dtype}). Cluster the layer before enabling LoRA or quantizing it.")


@register("layer")
class ClusteredLayer(keras.layers.Wrapper):
    """Share the values of a layer's kernel among `number_of_clusters` clusters.

    Weight clustering (weight sharing, Han, Mao & Dally 2016, "Deep Compression", Sec. 3)
    replaces the weights of a kernel by k shared values, found by k-means on the kernel's
    values. When built, the wrapper clusters the wrapped layer's kernel as it is then (the
    copied weights when made by :func:`~kerasopt.compression.clustering.cluster_weights`)
    and writes each weight's centroid into the kernel.

    Design: the kernel stays the wrapped layer's own trainable variable, and the wrapper
    holds the cluster index of every weight in a non-trainable int32 variable
    (`cluster_indices`). A :class:`ClusterMeanConstraint` on the kernel replaces each
    weight by the mean of its cluster after every optimizer update, so the shared value
    moves by the mean update of its members. Compared with a wrapper that trains k
    centroid variables and gathers the kernel in `call`, this needs no copy of each
    layer's `call` (every supported layer computes with its own kernel, unchanged), works
    with any Keras optimizer (momentum and Adam moments live per weight and the projection
    runs after them), and `strip` is the wrapped layer itself. The difference from Han et
    al.'s centroid gradient (the *sum* of its members' gradients) is a step scaled by
    1/size per cluster under SGD: large clusters do not take giant steps at a learning
    rate tuned for single weights.

    The indices and the sparsity mask are layer variables, so `save_weights`,
    `load_weights` and `.keras` files keep them; the constraint is set again whenever the
    wrapper is built (loading a `.keras` file clusters the freshly initialized kernel once
    at build, then the loaded indices, mask and kernel replace that). The partition can also be read back from the kernel itself (it holds
    at most k distinct values): clustering a stripped kernel again with the same k
    reproduces the same partition and values (numbered by the centroids' order).

    Sparsity: with `preserve_sparsity=True`, weights that are exactly zero when clustering
    (from pruning, say) are a fixed cluster of their own: they take index k, enter no mean,
    and a mask attached with :func:`kerasopt.compression.masking.attach_mask` keeps them
    exactly zero. The kernel then holds at most k + 1 distinct values.

    Args:
        layer: The layer to wrap, of one of :data:`SUPPORTED_LAYER_TYPES` exactly, or
            with a `get_clusterable_weights()` method returning the one weight to cluster
            (tfmot's `ClusterableLayer` protocol).
        number_of_clusters: k, the number of shared values (at least 2).
            Defaults to `16`.
        init: Centroid initialization, `"kmeans++"` or `"linear"` (evenly spaced between
            the smallest and largest value). Defaults to `"kmeans++"`.
        preserve_sparsity: Whether zeros stay zero and out of the clusters.
            Defaults to `True`.
        seed: Seed of the k-means++ draws. Defaults to `0`.
        **kwargs: Base layer arguments (`name`, `trainable`, ...).

    Raises:
        ValueError: For an unsupported layer or an invalid argument.
        UnsupportedBackendError: (a ValueError) Under a Keras backend other than TensorFlow;
            see `kerasopt._backend.TENSORFLOW_ONLY`.

    Example:
        >>> layer = ClusteredLayer(keras.layers.Dense(8), number_of_clusters=4)
        >>> layer.build((None, 16))
        >>> int(np.unique(keras.ops.convert_to_numpy(layer.layer.kernel)).size)
        4
    """

    def __init__(self, layer: keras.layers.Layer, number_of_clusters: int = 16,
                 init: str = "kmeans++", preserve_sparsity: bool = True, seed: int = 0,
                 **kwargs: Any) -> None:
        require_tensorflow("kerasopt.compression.clustering.ClusteredLayer")
        check_clusterable(layer)
        check_clustering_args(number_of_clusters, init, seed)
        if not isinstance(preserve_sparsity, bool):
            raise ValueError("`preserve_sparsity` must be True or False. "
                             f"Received: preserve_sparsity={preserve_sparsity!r}")
        super().__init__(layer, **kwargs)
        self.number_of_clusters = number_of_clusters
        self.init = init
        self.preserve_sparsity = preserve_sparsity
        self.seed = seed

    def _kernel(self) -> Any:
        check_clusterable(self.layer)
        return clustered_variable(self.layer)

    def build(self, input_shape: Any = None) -> None:
        super().build(input_shape)
        kernel = self._kernel()
        self.cluster_indices = self.add_weight(
            name="cluster_indices", shape=kernel.shape, dtype="int32",
            initializer="zeros", trainable=False)
        self.sparsity_mask = None
        if self.preserve_sparsity:
            self.sparsity_mask = self.add_weight(
                name="sparsity_mask", shape=kernel.shape, dtype=kernel.dtype,
                initializer="ones", trainable=False)
        self.cluster()

    def cluster(self) -> None:
        """Run k-means on the kernel's current values and share them from now on.

        Sets `cluster_indices` (and `sparsity_mask`), writes each weight's centroid into
        the kernel and sets the kernel's constraint. Runs when the wrapper is built;
        call it again to re-cluster after assigning new weights by hand.
        """
        kernel = self._kernel()
        values = keras.ops.convert_to_numpy(kernel).astype(np.float64)
        keep = values != 0 if self.preserve_sparsity else np.ones(values.shape, bool)
        indices = np.full(values.shape, self.number_of_clusters, dtype=np.int32)
        shared = np.zeros_like(values)
        if keep.any():
            centroids, labels = kmeans_1d(values[keep], self.number_of_clusters,
                                          init=self.init, seed=self.seed)
            indices[keep] = labels
            shared[keep] = centroids[labels]
        self.cluster_indices.assign(indices)
        previous = kernel.constraint
        while isinstance(previous, (MaskConstraint, ClusterMeanConstraint)):
            previous = previous.previous
        kernel.constraint = ClusterMeanConstraint(
            self.cluster_indices, self.number_of_clusters, previous)
        if self.sparsity_mask is not None:
            self.sparsity_mask.assign(keep.astype(self.sparsity_mask.dtype))
            attach_mask(kernel, self.sparsity_mask)
        kernel.assign(shared.astype(kernel.dtype))

    def clustered_kernel(self) -> np.ndarray:
        """The kernel with every weight set to its cluster's mean, computed in NumPy.

        Means are taken in float64 and rounded once, so a kernel that is already shared
        comes back bit for bit; unclustered entries (index k) are zero.

        Returns:
            An array of the kernel's shape and dtype.
        """
        kernel = self._kernel()
        values = keras.ops.convert_to_numpy(kernel)
        ids = keras.ops.convert_to_numpy(self.cluster_indices).ravel()
        flat = values.astype(np.float64).ravel()
        segments = self.number_of_clusters + 1
        sums = np.bincount(ids, weights=flat, minlength=segments)
        counts = np.bincount(ids, minlength=segments)
        means = sums / np.maximum(counts, 1)
        means[self.number_of_clusters] = 0.0
        return means[ids].reshape(values.shape).astype(values.dtype)

    def call(self, inputs: Any) -> Any:
        return self.layer(inputs)

    def compute_output_shape(self, input_shape: Any) -> Any:
        return self.layer.compute_output_shape(input_shape)

    def get_config(self) -> dict[str, Any]:
        return {**super().get_config(), "number_of_clusters": self.number_of_clusters,
                "init": self.init, "preserve_sparsity": self.preserve_sparsity,
                "seed": self.seed}
