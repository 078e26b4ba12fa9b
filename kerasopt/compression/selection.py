"""Which layers pruning, clustering and QAT accept: one rule for all three.

A layer is supported when

1. its **exact** type is one of the technique's built-in types (`type(layer) in types`,
   not `isinstance`): a subclass of `Dense` may compute with its kernel differently (its
   own `call`, another weight), so compressing its `kernel` could be silently wrong; or
2. it **opts in** with the technique's method, tensorflow-model-optimization's protocols:
   `get_prunable_weights()` for pruning (tfmot's `PrunableLayer`) and
   `get_clusterable_weights()` for clustering (tfmot's `ClusterableLayer`, which returns
   `(name, variable)` pairs; plain variables are accepted too). kerasopt compresses one
   weight per layer, so the method must return exactly one floating-point variable of the
   built layer. QAT has no opt-in: its wrapper reproduces the int8 computation of the few
   layer types it supports.

This is tfmot's rule (its registries match `layer.__class__` exactly and custom layers opt
in), except that tfmot prunes every weight the method returns.

Example:
    >>> import keras
    >>> class MyDense(keras.layers.Dense):
    ...     pass
    >>> is_supported(MyDense(2), (keras.layers.Dense,), "get_prunable_weights")
    False
    >>> class Prunable(MyDense):
    ...     def get_prunable_weights(self):
    ...         return [self.kernel]
    >>> is_supported(Prunable(2), (keras.layers.Dense,), "get_prunable_weights")
    True
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import keras

PRUNING_OPT_IN = "get_prunable_weights"
"""The method a custom layer defines to be pruned (tfmot's `PrunableLayer`)."""

CLUSTERING_OPT_IN = "get_clusterable_weights"
"""The method a custom layer defines to be clustered (tfmot's `ClusterableLayer`)."""


def opts_in(layer: Any, method: str | None) -> bool:
    """Whether `layer` defines the opt-in `method` (None: the technique has no opt-in)."""
    return method is not None and callable(getattr(layer, method, None))


def is_supported(layer: Any, types: Sequence[type], method: str | None = None) -> bool:
    """Whether `layer` is of one of `types` exactly, or opts in with `method`."""
    return type(layer) in tuple(types) or opts_in(layer, method)


def opted_in_weight(layer: Any, method: str) -> Any:
    """The one variable a built, opted-in layer returns from `method`.

    Raises:
        ValueError: Naming the layer, the method and what it returned, unless that is
            exactly one floating-point variable (or one `(name, variable)` pair).
    """
    returned = list(getattr(layer, method)())
    weights = [item[1] if isinstance(item, (tuple, list)) and len(item) == 2 else item
               for item in returned]
    if len(weights) != 1 or not isinstance(weights[0], keras.Variable) or (
            "float" not in str(weights[0].dtype)):
        raise ValueError(
            f"Layer {layer.name!r} ({type(layer).__qualname__}) opts in with `{method}()`, "
            f"which must return exactly one floating-point variable of the built layer (kerasopt "
            f"compresses one weight per layer). Received: {returned!r}")
    return weights[0]


def type_description(layer: Any) -> str:
    """`module.Class` of a layer, for messages."""
    return f"{type(layer).__module__}.{type(layer).__qualname__}"
