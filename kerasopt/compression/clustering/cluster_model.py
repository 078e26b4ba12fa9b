"""Model-level weight clustering: wrap, strip and summarize a Sequential or Functional model."""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from typing import Any

import keras
import numpy as np

from kerasopt.compression import cloning
from kerasopt.compression.clustering.clustered_layer import (
    SUPPORTED_LAYER_TYPES,
    ClusteredLayer,
    check_clusterable,
    clustered_variable,
    is_clusterable,
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


def _walk(model: keras.Model) -> Iterator[keras.layers.Layer]:
    """Every layer of a graph model, descending into nested Sequential/Functional models."""
    for layer in model.layers:
        if cloning.is_graph_model(layer):
            yield from _walk(layer)
        else:
            yield layer


def _copy_layer(layer: keras.layers.Layer) -> keras.layers.Layer:
    """A new layer from the config of `layer`, built the same way and holding its weights."""
    new = layer.__class__.from_config(layer.get_config())
    build_config = layer.get_build_config()
    if build_config is not None and not new.built:
        new.build_from_config(build_config)
    if layer.weights:
        new.set_weights(layer.get_weights())
    return new


def _clone(model: keras.Model, replace: Callable[[keras.layers.Layer], Any]) -> keras.Model:
    """Clone with weights; `replace(layer)` returns a substitute layer or None to copy it."""

    def clone_function(layer: keras.layers.Layer) -> keras.layers.Layer:
        substitute = replace(layer)
        return _copy_layer(layer) if substitute is None else substitute

    return cloning.clone_graph_model(model, clone_function)


def _type_names(layer_types: Sequence[Any]) -> set[str]:
    names = set()
    supported = {t.__name__ for t in SUPPORTED_LAYER_TYPES}
    for item in layer_types:
        name = item.__name__ if isinstance(item, type) else item
        if name not in supported:
            raise ValueError(f"`layer_types` may only name supported layer types: "
                             f"{supported_type_names()}. Received: layer_types={list(layer_types)!r}")
        names.add(name)
    return names


def _select(model: keras.Model, layers: Sequence[str] | None,
            layer_types: Sequence[Any] | None) -> set[int]:
    """The ids of the layers to cluster, after checking every name and type asked for."""
    if layers is not None and layer_types is not None:
        raise ValueError("Pass `layers` (names) or `layer_types` (types), not both. "
                         f"Received: layers={layers!r}, layer_types={layer_types!r}")
    found = list(_walk(model))
    clustered = [layer.name for layer in found if isinstance(layer, ClusteredLayer)]
    if clustered:
        raise ValueError(f"Model {model.name!r} is already clustered (layers {clustered}); call "
                         "strip_clustering(model) first to cluster it again.")
    if layers is not None:
        if isinstance(layers, str) or not all(isinstance(n, str) for n in layers):
            raise ValueError(f"`layers` must be a list of layer names. Received: layers={layers!r}")
        by_name = {layer.name: layer for layer in found}
        missing = [name for name in layers if name not in by_name]
        if missing:
            raise ValueError(f"`layers` names layers that model {model.name!r} does not have: "
                             f"{missing}. Its layers: {sorted(by_name)}.")
        chosen = [by_name[name] for name in layers]
    else:
        if layer_types is not None and (isinstance(layer_types, str) or not layer_types):
            raise ValueError("`layer_types` must be a non-empty list of layer types. "
                             f"Received: layer_types={layer_types!r}")
        allowed = _type_names(layer_types) if layer_types is not None else None
        chosen = [layer for layer in found if is_clusterable(layer)
                  and (allowed is None or type(layer).__name__ in allowed)]
    for layer in chosen:
        check_clusterable(layer)
    if not chosen:
        raise ValueError(f"Model {model.name!r} has no layer to cluster. Supported layer types: "
                         f"{supported_type_names()}.")
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
        layers: Names of the layers to cluster; each must be supported. Defaults to `None`
            (every supported layer: a supported type exactly, not a subclass, or a layer
            with a `get_clusterable_weights()` method; see
            :mod:`kerasopt.compression.selection`).
        layer_types: Supported types to cluster, as classes or class names (`"Dense"`);
            not together with `layers`. Defaults to `None` (every supported type).
        preserve_sparsity: Whether kernel entries that are exactly zero (from pruning)
            stay zero and out of the clusters. Defaults to `True`.
        seed: Seed of the k-means++ draws. Defaults to `0`.

    Returns:
        A new model of the same structure with the chosen layers wrapped.

    Raises:
        ValueError: For an invalid argument, a subclassed or unbuilt model, a model that
            is already clustered, a named layer that is missing or of an unsupported type,
            or a model without any layer to cluster.
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
        return ClusteredLayer(_copy_layer(layer), number_of_clusters, init=init,
                              preserve_sparsity=preserve_sparsity, seed=seed,
                              name=f"cluster_{layer.name}")

    return _clone(model, replace)


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
        plain = _copy_layer(layer.layer)
        target = clustered_variable(layer.layer)
        kernel = next(i for i, w in enumerate(layer.layer.weights) if w is target)
        weights = plain.get_weights()
        weights[kernel] = layer.clustered_kernel()
        plain.set_weights(weights)
        return plain

    return _clone(model, replace)


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
    for layer in _walk(model):
        if isinstance(layer, ClusteredLayer):
            kernel = keras.ops.convert_to_numpy(clustered_variable(layer.layer))
            summary[layer.layer.name] = {"clusters": layer.number_of_clusters,
                                         "unique_values": int(np.unique(kernel).size)}
    if not summary:
        raise ValueError(f"Model {model.name!r} has no clustered layer. Call clustering_summary "
                         "on the model returned by cluster_weights, before strip_clustering.")
    return {"layers": summary}
