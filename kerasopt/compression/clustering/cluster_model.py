"""Model-level weight clustering: wrap, strip and summarize a Sequential or Functional model."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import keras
import numpy as np

from kerasopt.compression import cloning, layers
from kerasopt.compression.clustering.clustered_layer import (
    SUPPORTED_LAYER_TYPES,
    ClusteredLayer,
    check_clusterable,
    clustered_variable,
    supported_type_names,
)
from kerasopt.compression.clustering.kmeans import check_clustering_args

_HINT = ("Rebuild it with keras.Sequential([...]) or keras.Model(inputs, outputs), or wrap the "
         "layers to cluster yourself: ClusteredLayer(keras.layers.Dense(64), number_of_clusters=16).")


def _check_model(model: Any, function: str) -> None:
    cloning.check_graph_model(model, f"`{function}`", _HINT)
    if not model.built:
        raise ValueError(f"`{function}` needs a built model; {model.name!r} is not built. "
                         "Give it an Input (keras.Input(shape=...)) or call it on a batch first.")


def _describe(layer: Any) -> str:
    try:
        check_clusterable(layer)
    except ValueError as err:
        return str(err)
    return f"Layer {layer.name!r} cannot be clustered."


SUPPORT = layers.Support("clustered", SUPPORTED_LAYER_TYPES, layers.CLUSTERING_OPT_IN, _describe)
"""What clustering compresses (see :mod:`kerasopt.compression.layers`)."""


def _select(model: keras.Model, patterns: Sequence[str] | None,
            layer_types: Sequence[Any] | None) -> set[int]:
    """The ids of the layers to cluster, after checking every name and type asked for."""
    clustered = [q for q, layer in layers.walk(model) if isinstance(layer, ClusteredLayer)]
    if clustered:
        raise ValueError(f"Model {model.name!r} is already clustered (layers {clustered}); call "
                         "strip_clustering(model) first to cluster it again.")
    chosen = [layer for _, layer in layers.select(model, patterns, layer_types, SUPPORT)]
    for layer in chosen:
        check_clusterable(layer)
    if not chosen:
        raise ValueError(f"Model {model.name!r} has no layer to cluster (layers={patterns!r}, "
                         f"layer_types={layer_types!r}). Supported layer types: {supported_type_names()}.")
    return {id(layer) for layer in chosen}


def cluster_weights(
    model: keras.Model,
    number_of_clusters: int = 16,
    *,
    init: str = "kmeans++",
    layers: Sequence[str] | None = None,
    layer_types: Sequence[str | type] | None = None,
    preserve_sparsity: bool = True,
    seed: int = 0,
) -> keras.Model:
    """A copy of `model` whose chosen kernels share `number_of_clusters` values each.

    Each chosen layer is copied with its weights and wrapped in a :class:`ClusteredLayer`,
    which runs k-means on its kernel's values and keeps the weights shared while the model
    is trained with `fit` and any optimizer. The input model is not changed. The copy
    carries the original's compile settings when it was compiled; compile it for
    fine-tuning (a learning rate about 10x lower than training's is a good start).

    Args:
        model: A built Sequential or Functional model; nested Sequential and Functional
            models are handled, subclassed models are refused.
        number_of_clusters: k, shared values per kernel (at least 2). Defaults to `16`.
        init: `"kmeans++"` (seeded k-means++ draws) or `"linear"` (evenly spaced between
            the smallest and largest value). Defaults to `"kmeans++"`.
        layers: fnmatch patterns of the names (or `outer/inner` qualified names) of the
            layers to cluster. Defaults to `None` (every supported layer: a supported type
            exactly, not a subclass, or a layer with a `get_clusterable_weights()` method).
        layer_types: Supported types to cluster, as classes or class names (`"Dense"`);
            with `layers`, a layer must match both. Defaults to `None` (every supported
            type). The rule of :func:`kerasopt.compression.layers.select`, shared by every
            technique.
        preserve_sparsity: Whether kernel entries that are exactly zero (from pruning)
            stay zero and out of the clusters. Defaults to `True`.
        seed: Seed of the k-means++ draws. Defaults to `0`.

    Returns:
        A new model of the same structure with the chosen layers wrapped.

    Raises:
        ValueError: For an invalid argument, a subclassed or unbuilt model, a model that
            is already clustered, a pattern that matches no layer or only unsupported ones,
            an unsupported type, or nothing to cluster.
        UnsupportedBackendError: (a ValueError) Under a Keras backend other than TensorFlow;
            see `kerasopt._backend.TENSORFLOW_ONLY`.

    Example:
        >>> model = keras.Sequential([keras.Input((8,)), keras.layers.Dense(16, name="hidden"),
        ...                           keras.layers.Dense(2, name="logits")])
        >>> clustered = cluster_weights(model, 4, layers=["hidden"])
        >>> clustering_summary(clustered)
        {'layers': {'hidden': {'clusters': 4, 'unique_values': 4}}}
    """
    check_clustering_args(number_of_clusters, init, seed)
    if not isinstance(preserve_sparsity, bool):
        raise ValueError("`preserve_sparsity` must be True or False. "
                         f"Received: preserve_sparsity={preserve_sparsity!r}")
    _check_model(model, "cluster_weights")
    chosen = _select(model, layers, layer_types)

    def replace(layer: keras.layers.Layer) -> ClusteredLayer | None:
        if id(layer) not in chosen:
            return None
        return ClusteredLayer(cloning.copy_layer(layer), number_of_clusters, init=init,
                              preserve_sparsity=preserve_sparsity, seed=seed,
                              name=f"cluster_{layer.name}")

    return cloning.clone_with_weights(model, replace, function_name="`cluster_weights`", hint=_HINT)


def strip_clustering(model: keras.Model) -> keras.Model:
    """A copy of `model` with every :class:`ClusteredLayer` replaced by its plain layer.

    Each plain layer's kernel holds only the shared values: at most `number_of_clusters`
    distinct values, plus 0 when sparsity is preserved (each weight is set to its
    cluster's mean, which leaves a trained clustered kernel bit for bit unchanged). This
    is the model to export; it needs no kerasopt to load. A model without clustered layers
    comes back as a plain copy.

    Args:
        model: A Sequential or Functional model, usually from :func:`cluster_weights`.

    Returns:
        A new model of plain Keras layers, with the same predictions.

    Raises:
        ValueError: For a subclassed or unbuilt model.
    """
    _check_model(model, "strip_clustering")

    def replace(layer: keras.layers.Layer) -> keras.layers.Layer | None:
        if not isinstance(layer, ClusteredLayer):
            return None
        plain = cloning.copy_layer(layer.layer)
        target = clustered_variable(layer.layer)
        kernel = next(i for i, w in enumerate(layer.layer.weights) if w is target)
        weights = plain.get_weights()
        weights[kernel] = layer.clustered_kernel()
        plain.set_weights(weights)
        return plain

    return cloning.clone_with_weights(model, replace, function_name="`strip_clustering`", hint=_HINT)


def clustering_summary(model: keras.Model) -> dict[str, Any]:
    """Clusters and distinct kernel values of every clustered layer of `model`.

    Call it on the model from :func:`cluster_weights` (before :func:`strip_clustering`,
    which drops the cluster bookkeeping).

    Args:
        model: A model holding :class:`ClusteredLayer` wrappers.

    Returns:
        `{"layers": {name: {"clusters": k, "unique_values": n}}}`, keyed by the wrapped
        layer's name, where `n` counts the distinct values in its kernel now (0 included).

    Raises:
        ValueError: If the model holds no clustered layer.
    """
    _check_model(model, "clustering_summary")
    summary: dict[str, Any] = {}
    for _, layer in layers.walk(model):
        if isinstance(layer, ClusteredLayer):
            kernel = keras.ops.convert_to_numpy(clustered_variable(layer.layer))
            summary[layer.layer.name] = {"clusters": layer.number_of_clusters,
                                         "unique_values": int(np.unique(kernel).size)}
    if not summary:
        raise ValueError(f"Model {model.name!r} has no clustered layer. Call clustering_summary "
                         "on the model returned by cluster_weights, before strip_clustering.")
    return {"layers": summary}
