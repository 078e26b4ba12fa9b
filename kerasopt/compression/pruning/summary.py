"""`pruning_summary`: the fraction of exact zeros in a model's prunable kernels."""

from __future__ import annotations

from typing import Any

import keras
import numpy as np
from keras import ops

from kerasopt.compression.layers import walk
from kerasopt.compression.pruning import _layers
from kerasopt.compression.pruning.pruning_wrapper import PruneLowMagnitude


def prunable_kernels(model: Any) -> list[tuple[str, Any]]:
    """`(name, variable)` of every built prunable kernel, wrapped or not, walking nested models.

    A wrapped layer (for pruning, QAT or clustering) is reported under its inner layer's
    qualified name, so a compressed model and its stripped copy list the same names.
    """
    found = []
    for qualified, layer in walk(model):
        if isinstance(layer, PruneLowMagnitude):
            prefix = qualified[: len(qualified) - len(layer.name)]
            if layer.layer.built:
                found.append((prefix + layer.layer.name, layer.pruned_weight))
            continue
        if isinstance(layer, keras.layers.Wrapper):  # QAT, clustering: count the layer inside
            qualified = qualified[: len(qualified) - len(layer.name)] + layer.layer.name
            layer = layer.layer
        if _layers.is_prunable(layer) and layer.built:
            found.append((qualified, _layers.pruned_weight(layer)))
    return found


def pruning_summary(model: Any) -> dict[str, Any]:
    """Measure sparsity: the fraction of weights that are exactly zero in prunable kernels.

    Counts the kernels of every supported layer type (see `PruneLowMagnitude`), whether
    wrapped for pruning or plain, so it gives the same numbers for a pruned model and for
    `strip_pruning(model)`. Biases and other weights are not counted.

    Args:
        model: A Keras model (nested models are walked into).

    Returns:
        `{"sparsity": zeros / size over all prunable kernels (0.0 when there are none),
        "layers": {qualified layer name: that kernel's fraction of zeros}}`.

    Example:
        >>> import keras
        >>> model = keras.Sequential([keras.Input((2,)), keras.layers.Dense(2, name="d")])
        >>> _ = model.layers[0].kernel.assign([[0.0, 1.0], [0.0, 2.0]])
        >>> pruning_summary(model)
        {'sparsity': 0.5, 'layers': {'d': 0.5}}
    """
    layers: dict[str, float] = {}
    zeros = total = 0
    for name, kernel in prunable_kernels(model):
        values = np.asarray(ops.convert_to_numpy(kernel))
        count = int(values.size - np.count_nonzero(values))
        layers[name] = count / values.size
        zeros += count
        total += values.size
    return {"sparsity": zeros / total if total else 0.0, "layers": layers}
