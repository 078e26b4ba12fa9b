"""Every layer object of a model, nested models and input layers included.

For setting flags on layers (`trainable`, `synchronized`) and finding layers of a type
anywhere in a model. To walk the layers that compute (qualified names, input layers and
the models themselves left out), as compression and export do, use
:func:`kerasopt.compression.layers.walk`.
"""

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
