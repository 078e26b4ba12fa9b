"""`strip_pruning`: the plain model to export once pruning is done."""

from __future__ import annotations

from typing import Any

import keras

from kerasopt.compression import cloning
from kerasopt.compression.pruning.prune import _HINT
from kerasopt.compression.pruning.pruning_wrapper import PruneLowMagnitude


def strip_pruning(model: keras.Model) -> keras.Model:
    """Return a new model with every `PruneLowMagnitude` wrapper replaced by its plain layer.

    Weights are copied, so pruned kernels keep their zeros; masks, pruning steps and mask
    constraints are dropped, and the layers get back their own names. This is the model to
    export (`.keras`, TFLite): its predictions equal the pruned model's, and its files
    compress with the zeros (compare gzip sizes). Nested Sequential and Functional models
    are stripped too.

    Args:
        model: A Sequential or Functional model, pruned or not.

    Returns:
        A new model; compiled from the original's compile config if that was compiled (as
        `keras.models.clone_model` does).

    Raises:
        ValueError: If the model (or one nested in it) is a subclassed model.

    Example:
        >>> from kerasopt.compression.pruning import prune_low_magnitude
        >>> model = keras.Sequential([keras.Input((4,)), keras.layers.Dense(2, name="d")])
        >>> pruned = prune_low_magnitude(model)
        >>> [layer.name for layer in pruned.layers]
        ['prune_low_magnitude_d']
        >>> [layer.name for layer in strip_pruning(pruned).layers]
        ['d']
    """

    def replace(layer: Any) -> Any:
        return cloning.copy_layer(layer.layer) if isinstance(layer, PruneLowMagnitude) else None

    return cloning.clone_with_weights(model, replace, function_name="strip_pruning", hint=_HINT)
