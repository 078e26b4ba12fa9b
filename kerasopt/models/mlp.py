"""The `mlp` architecture: a stack of Dense blocks on the flattened input."""

from __future__ import annotations

from typing import Any

import keras

from kerasopt.models import spec_checks
from kerasopt.models.layer_factory import LayerFactory

OPTIONS: dict[str, Any] = {"units": [128, 64]}
"""The options of `architecture: mlp` and their defaults."""


def mlp_features(x: Any, options: dict[str, Any], make: LayerFactory, input_shape: tuple[int, ...]) -> Any:
    """Build the hidden layers of a multilayer perceptron (the head is added by the caller).

    The input is flattened first when it has more than one axis, then each entry of
    `units` becomes a block Dense -> normalization -> activation -> dropout, named
    `dense_1`, `dense_2`, ... (normalization layers `dense_1_bn`/`dense_1_ln`,
    activations `dense_1_act`, dropout `dense_1_dropout`), so `freeze` patterns such as
    `"dense_1*"` select one block.

    Args:
        x: The input tensor (after the optional normalizer).
        options: The resolved options; `units` is a list of integers >= 1 (an empty
            list gives a linear model: the head directly on the inputs).
        make: The layer factory holding the common options.
        input_shape: The model's input shape without the batch axis.

    Returns:
        The features tensor the head is applied to.

    Raises:
        ModelError: If `units` is not a list of integers >= 1.

    Example:
        ```python
        build_model({"architecture": "mlp", "units": [64, 32]}, input_shape=(40,), num_classes=10)
        ```
    """
    units = spec_checks.int_list("units", options["units"], allow_empty=True)
    if len(input_shape) > 1:
        x = keras.layers.Flatten(name="flatten")(x)
    for i, width in enumerate(units, start=1):
        x = make.dense_block(x, width, f"dense_{i}")
    return x
