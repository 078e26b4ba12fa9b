"""Which Keras layers can be pruned and which weight is pruned.

Private to `kerasopt.compression.pruning`: the wrapper, the functional forms, the summary
and the callback read the one table here; walking and selecting layers is
:mod:`kerasopt.compression.layers`.
"""

from __future__ import annotations

from typing import Any

import keras

from kerasopt.compression import layers as selection

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
"""Class names of the built-in layers kerasopt can prune (matched by exact type)."""

_WEIGHT_BY_TYPE = dict(_PRUNED_WEIGHT)

PRUNABLE_TYPES: tuple[type, ...] = tuple(_WEIGHT_BY_TYPE)
"""The built-in layer classes kerasopt can prune (matched by exact type)."""


def is_prunable(layer: Any) -> bool:
    """Whether `layer` can be pruned: a built-in type exactly, or it opts in with
    `get_prunable_weights()` (the rule of :mod:`kerasopt.compression.layers`)."""
    return selection.is_supported(layer, tuple(_WEIGHT_BY_TYPE), selection.PRUNING_OPT_IN)


def pruned_weight(layer: Any) -> Any:
    """The variable pruned in a built prunable `layer`."""
    if type(layer) in _WEIGHT_BY_TYPE:
        return find_weight(layer, _WEIGHT_BY_TYPE[type(layer)])
    return selection.opted_in_weight(layer, selection.PRUNING_OPT_IN)


def unsupported_message(layer: Any) -> str:
    """The error message for a layer that cannot be pruned."""
    subclass = ""
    if isinstance(layer, tuple(_WEIGHT_BY_TYPE)):
        subclass = (" It subclasses a supported type, but layers are matched by exact type (a "
                    "subclass may compute with its kernel differently); give it a "
                    "`get_prunable_weights()` method returning the weight to prune to opt in.")
    return (f"Layer {layer.name!r} of type {selection.type_description(layer)} cannot be "
            f"pruned. Supported layer types: {', '.join(SUPPORTED_TYPES)}, or a layer with a "
            f"`get_prunable_weights()` method.{subclass}")


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
