"""Rebuild a Sequential/Functional model layer by layer, copying weights into the new layers.

Private to `kerasopt.compression.pruning`: `prune_low_magnitude` and `strip_pruning` both
go through `keras.models.clone_model`, which makes fresh weights; this copies the old ones.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import keras

from kerasopt.compression.pruning import _layers

CloneLayer = Callable[[Any], tuple[Any, Any]]


def nested_models(model: Any) -> list[Any]:
    """Every model nested inside `model`, at any depth."""
    found = []
    for layer in model.layers:
        if _layers.is_nested_model(layer):
            found.append(layer)
            found.extend(nested_models(layer))
    return found


def check_graph_model(model: Any, function_name: str) -> None:
    """Raise unless `model` and every model nested in it are Sequential or Functional."""
    if not isinstance(model, keras.Model):
        raise ValueError(f"{function_name} expects a keras.Model. Received an object of type "
                         f"{type(model).__module__}.{type(model).__qualname__}.")
    for candidate in [model, *nested_models(model)]:
        if not _layers.is_graph_model(candidate):
            raise ValueError(
                f"{function_name} rebuilds Sequential and Functional models only; "
                f"{candidate.name!r} is a subclassed model of type "
                f"{type(candidate).__module__}.{type(candidate).__qualname__}. Wrap its "
                "layers in kerasopt.compression.pruning.PruneLowMagnitude inside its code "
                "instead.")


def fresh_copy(layer: Any) -> Any:
    """A new, unbuilt layer of the same class and config."""
    return layer.__class__.from_config(layer.get_config())


def copy_weights(source: Any, target: Any) -> Callable[[], None]:
    """A deferred copy of `source`'s weights into `target` (run once `target` is built)."""

    def run() -> None:
        if source.weights:
            target.set_weights(source.get_weights())

    return run


def clone_with_weights(model: Any, clone_layer: CloneLayer, function_name: str) -> keras.Model:
    """Clone `model`, nested models included, then copy the weights into the clones.

    Args:
        model: A Sequential or Functional model.
        clone_layer: `fn(layer) -> (new layer, zero-argument weight copier)`, called once
            per layer that is not a model (shared layers are cloned once).
        function_name: Named in the error for a subclassed model.

    Returns:
        The new model (compiled from the original's compile config if it was compiled,
        as `keras.models.clone_model` does).

    Raises:
        ValueError: If `model` or a model nested in it is subclassed.
    """
    check_graph_model(model, function_name)
    copiers = []

    def clone_function(layer: Any) -> Any:
        new, copier = clone_layer(layer)
        copiers.append(copier)
        return new

    clone = keras.models.clone_model(model, clone_function=clone_function, recursive=True)
    for copier in copiers:
        copier()
    return clone
