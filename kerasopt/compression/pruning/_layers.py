"""Which Keras layers can be pruned, which weight is pruned, and how to walk a model.

Private to `kerasopt.compression.pruning`: the wrapper, the functional forms, the summary
and the callback read the one table here.
"""

from __future__ import annotations

import fnmatch
from collections.abc import Iterator, Sequence
from typing import Any

import keras

# Layer class -> name of the weight that is pruned. Separable convolutions prune their
# pointwise kernel (most of their weights and multiply-adds); depthwise convolutions
# prune their depthwise kernel.
_PRUNED_WEIGHT: tuple[tuple[type, str], ...] = (
    (keras.layers.Dense, "kernel"),
    (keras.layers.EinsumDense, "kernel"),
    (keras.layers.Conv1D, "kernel"),
    (keras.layers.Conv2D, "kernel"),
    (keras.layers.Conv3D, "kernel"),
    (keras.layers.DepthwiseConv1D, "kernel"),
    (keras.layers.DepthwiseConv2D, "kernel"),
    (keras.layers.SeparableConv1D, "pointwise_kernel"),
    (keras.layers.SeparableConv2D, "pointwise_kernel"),
)

SUPPORTED_TYPES: tuple[str, ...] = tuple(cls.__name__ for cls, _ in _PRUNED_WEIGHT)
"""Class names of the layers kerasopt can prune."""


def pruned_weight_name(layer: Any) -> str | None:
    """The name of the weight pruned in `layer`, or None if its type is not supported."""
    for cls, name in _PRUNED_WEIGHT:
        if isinstance(layer, cls):
            return name
    return None


def unsupported_message(layer: Any) -> str:
    """The error message for a layer that cannot be pruned."""
    return (f"Layer {layer.name!r} of type {type(layer).__module__}.{type(layer).__qualname__} "
            f"cannot be pruned. Supported layer types: {', '.join(SUPPORTED_TYPES)}.")


def find_weight(layer: Any, name: str) -> Any:
    """The layer's own variable called `name` (the layer must be built)."""
    for variable in layer.weights:
        if variable.name == name:
            return variable
    raise ValueError(f"Layer {layer.name!r} has no weight named {name!r}; its weights are "
                     f"{[v.name for v in layer.weights]}.")


def input_channel_axis(layer: Any, rank: int) -> int | None:
    """The kernel axis summed against the layer's input channels (N:M groups run along it).

    Dense and convolution kernels keep input channels in their second-to-last axis. For
    EinsumDense it is the last kernel axis that is contracted with the input; None when
    the equation has no contracted axis or an ellipsis in the kernel.
    """
    if isinstance(layer, keras.layers.EinsumDense):
        lhs, output = layer.equation.split("->")
        source, kernel = lhs.split(",")
        if "." in kernel or len(kernel) != rank:
            return None
        contracted = [i for i, c in enumerate(kernel) if c in source and c not in output]
        return contracted[-1] if contracted else None
    return rank - 2


def is_nested_model(layer: Any) -> bool:
    """Whether `layer` is a model inside a model (walked into, not treated as one layer)."""
    return isinstance(layer, keras.Model)


def iter_layers(model: Any, prefix: str = "") -> Iterator[tuple[str, Any]]:
    """Yield `(qualified name, layer)` for every layer of `model`, walking into nested models.

    Qualified names join the names of the enclosing nested models with `/`
    (`"encoder/dense"`); input layers are skipped.
    """
    for layer in model.layers:
        if isinstance(layer, keras.layers.InputLayer):
            continue
        if is_nested_model(layer):
            yield from iter_layers(layer, f"{prefix}{layer.name}/")
        else:
            yield f"{prefix}{layer.name}", layer


def matches(qualified_name: str, layer: Any, patterns: Sequence[str]) -> bool:
    """Whether a layer's own or qualified name matches one of the fnmatch `patterns`."""
    return any(fnmatch.fnmatchcase(layer.name, p) or fnmatch.fnmatchcase(qualified_name, p)
               for p in patterns)
