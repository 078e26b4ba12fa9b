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
