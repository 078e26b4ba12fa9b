"""Walk a model's layers, nested models included."""

from __future__ import annotations

from typing import Any


def all_layers(model: Any) -> list[Any]:
    """Every layer of `model`, depth first, with the layers of nested models after their parent."""
    layers = []
    for layer in getattr(model, "layers", []):
        layers.append(layer)
        if hasattr(layer, "layers"):
            layers.extend(all_layers(layer))
    return layers


def leaf_layers(model: Any) -> list[Any]:
    """The layers of `model` that are not models themselves, nested models walked into, in order.

    Example:
        >>> import keras
        >>> inner = keras.Sequential([keras.Input((3,)), keras.layers.Dense(2, name="inner_dense")])
        >>> outer = keras.Sequential([keras.Input((3,)), inner, keras.layers.Dense(1, name="head")])
        >>> [layer.name for layer in leaf_layers(outer)]
        ['inner_dense', 'head']
    """
    return [leaf for layer in getattr(model, "layers", [])
            for leaf in (leaf_layers(layer) if hasattr(layer, "layers") else [layer])]
