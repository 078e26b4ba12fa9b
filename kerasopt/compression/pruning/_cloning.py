"""Rebuild a model for pruning or stripping, copying weights into the new layers.

Private to `kerasopt.compression.pruning`: `prune_low_magnitude` and `strip_pruning` both
go through :func:`kerasopt.compression.cloning.clone_graph_model`, which makes fresh
weights; this copies the old ones.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import keras

from kerasopt.compression import cloning

CloneLayer = Callable[[Any], tuple[Any, Any]]

_HINT = ("Wrap its layers in kerasopt.compression.pruning.PruneLowMagnitude inside its code "
         "instead.")


def check_graph_model(model: Any, function_name: str) -> None:
    """Raise unless `model` and every model nested in it are Sequential or Functional."""
    cloning.check_graph_model(model, function_name, _HINT)


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
        The new model, with the original's input layer names (compiled from the
        original's compile config if it was compiled, as `keras.models.clone_model` does).

    Raises:
        ValueError: If `model` or a model nested in it is subclassed.
    """
    check_graph_model(model, function_name)
    copiers = []

    def clone_function(layer: Any) -> Any:
        new, copier = clone_layer(layer)
        copiers.append(copier)
        return new

    clone = cloning.clone_graph_model(model, clone_function)
    for copier in copiers:
        copier()
    return clone
