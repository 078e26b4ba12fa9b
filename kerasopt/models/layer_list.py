"""The `layers` architecture: a model made of the user's own list of layer specs."""

from __future__ import annotations

from typing import Any

from kerasopt import registry
from kerasopt.models.errors import ModelError

OPTIONS: dict[str, Any] = {"layers": None}
"""The options of `architecture: layers` (`layers` is required)."""


def layer_list_outputs(x: Any, options: dict[str, Any], units: int | None) -> Any:
    """Apply the layers of `options["layers"]` in order; the last one is the model's output.

    Each item is a layer name (`"flatten"`) or a spec dict `{"type": name, **args}` with
    any Keras layer or registered kerasopt layer, built with
    `kerasopt.registry.build("layer", spec)` (nested `*_initializer`, `*_regularizer`
    ... specs are built too). No output head is added: the list is the whole model, so
    it must end with the output layer itself, e.g. `{"type": "dense", "units": 10,
    "activation": "softmax"}`. When `units` is given (the classes, or the head width
    the loss needs: 1 for binary crossentropy) the last layer's width must equal it.

    Args:
        x: The input tensor (after the optional normalizer).
        options: The resolved options; `layers` is a non-empty list of layer specs.
        units: The width the last layer must have, or None to accept any.

    Returns:
        The output tensor of the last layer.

    Raises:
        ModelError: If `layers` is missing or empty, names an unknown layer, has
            arguments the layer rejects, or its output width differs from `units`.

    Example:
        ```python
        spec = {"architecture": "layers", "layers": [
            {"type": "dense", "units": 32, "activation": "relu"},
            {"type": "dense", "units": 10, "activation": "softmax"}]}
        model = build_model(spec, input_shape=(40,), num_classes=10)
        ```
    """
    specs = options["layers"]
    if not isinstance(specs, (list, tuple)) or not specs:
        raise ModelError("`model.layers` must be a non-empty list of layer specs such as "
                         "{type: dense, units: 10, activation: softmax} (the list is the whole model; "
                         f"no head is added). Received: layers={specs!r}")
    for i, spec in enumerate(specs):
        key = f"layers[{i}]"
        if not (isinstance(spec, str) or (isinstance(spec, dict) and isinstance(spec.get("type"), str))):
            raise ModelError(f"`model.{key}` must be a layer name or a dict with a `type` key. "
                             f"Received: {key}={spec!r}")
        try:
            layer = registry.build("layer", spec)
        except KeyError as err:
            raise ModelError(f"`model.{key}.type` names no Keras or kerasopt layer: {err.args[0]} "
                             f"Received: {key}={spec!r}") from err
        except (TypeError, ValueError) as err:
            raise ModelError(f"`model.{key}` could not be built: {err} Received: {key}={spec!r}") from err
        try:
            x = layer(x)
        except (TypeError, ValueError) as err:
            raise ModelError(f"`model.{key}` ({type(layer).__name__}) does not accept its input of shape "
                             f"{tuple(x.shape)}: {err}") from err
    width = x.shape[-1] if len(x.shape) > 1 else None
    if units is not None and width is not None and width != units:
        binary = (" (a one-unit sigmoid output for two classes needs `training.loss: binary_crossentropy`)"
                  if width == 1 and units == 2 else "")
        raise ModelError(f"`model.layers` must end with a layer of {units} units (the output the data and "
                         f"loss need; no head is added to a layer list){binary}. Received: the last layer "
                         f"outputs shape {tuple(x.shape)}")
    return x
