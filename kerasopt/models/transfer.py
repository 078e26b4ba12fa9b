"""Transfer learning: load a `.keras` model, freeze/unfreeze layers by pattern, replace the head."""

from __future__ import annotations

import fnmatch
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import keras

from kerasopt import registry
from kerasopt.models import spec_checks
from kerasopt.models.errors import ModelError
from kerasopt.models.layer_factory import LayerFactory, check_activation
from kerasopt.models.layer_walk import all_layers

OPTIONS: dict[str, Any] = {"path": None, "freeze": [], "unfreeze": [], "replace_head": False}
"""The options of `architecture: file` (`path` is required)."""


def load_model_file(path: str | Path) -> keras.Model:
    """Load a `.keras` model with `safe_mode=True`, uncompiled.

    kerasopt's registered components are imported first, so models that contain them
    load. Lambda layers and other arbitrary code are refused by `safe_mode`.

    Args:
        path: The `.keras` file.

    Returns:
        The loaded model.

    Raises:
        ModelError: If the file is missing, is not a `.keras` file or cannot be loaded.
    """
    file = Path(path)
    if file.suffix != ".keras":
        raise ModelError(f"`model.path` must be a .keras file. Received: path={str(path)!r}")
    if not file.is_file():
        raise ModelError(f"`model.path` file does not exist. Received: path={str(path)!r}")
    registry.load_components()
    try:
        return keras.saving.load_model(file, compile=False, safe_mode=True)
    except (ValueError, TypeError) as err:
        raise ModelError(f"`model.path` could not be loaded with safe_mode=True: {err} "
                         f"Received: path={str(path)!r}") from err


def set_trainable(model: keras.Model, freeze: Sequence[str] | None = None,
                  unfreeze: Sequence[str] | None = None) -> keras.Model:
    """Freeze, then unfreeze, the layers whose names match fnmatch patterns.

    Patterns are matched case-sensitively against layer names with `fnmatch` (`"*"`,
    `"conv_*"`, `"stage1_*"`), through nested models too (the layers of a
    `keras.applications` backbone). Every matching layer of `freeze` gets
    `trainable=False`, then every matching layer of `unfreeze` gets `trainable=True`;
    setting a nested model's flag sets all its layers, and parents are handled before
    their layers. A frozen BatchNormalization runs in inference mode (Keras 3). Compile
    the model (again) after changing trainable flags. A pattern that matches no layer is
    an error (a typo must not silently train everything).

    Args:
        model: Any Keras model.
        freeze: Layer-name patterns to freeze. Defaults to `None` (none).
        unfreeze: Layer-name patterns to unfreeze, applied after `freeze`. Defaults to
            `None` (none).

    Returns:
        The same model, changed in place.

    Raises:
        ModelError: If a pattern is not a string or matches no layer.

    Example:
        ```python
        set_trainable(model, freeze=["*"], unfreeze=["head"])  # train the head only
        ```
    """
    layers = all_layers(model)
    for key, patterns, flag in (("freeze", freeze, False), ("unfreeze", unfreeze, True)):
        for pattern in spec_checks.string_list(key, patterns or []):
            matched = [layer for layer in layers if fnmatch.fnmatchcase(layer.name, pattern)]
            if not matched:
                names = ", ".join(layer.name for layer in layers[:12])
                raise ModelError(f"`model.{key}` pattern {pattern!r} matches no layer of {model.name!r} "
                                 f"(layers: {names}{', ...' if len(layers) > 12 else ''}). "
                                 f"Received: {key}={list(patterns)!r}")
            for layer in matched:
                layer.trainable = flag
    return model


def replace_head(model: keras.Model, units: int, *, make: LayerFactory | None = None,
                 output_activation: str = "auto") -> keras.Model:
    """Return a model whose last Dense layer is a new Dense of `units` outputs.

    The output layer must be a Dense layer, optionally followed by weightless layers
    (an `Activation`, `Softmax`, `Dropout`...), which are kept after the new Dense.
    When the Dense already has `units` outputs the model is returned unchanged. The new
    layer is named `head` (or `head_<units>` if `head` is taken), takes its initializer
    and regularizer from `make`, and keeps the old layer's activation unless
    `output_activation` names another one.

    Args:
        model: A functional or Sequential model with one output.
        units: The new number of outputs (classes, or 1 for regression).
        make: The layer factory for the new kernel. Defaults to `None` (glorot_uniform,
            seed 0, no regularization).
        output_activation: `"auto"` (keep the old activation) or a Keras activation
            name. Defaults to `"auto"`.

    Returns:
        The model with the new head, or `model` itself when nothing changes.

    Raises:
        ModelError: If the model's output is not produced by a Dense layer.
    """
    make = make or LayerFactory()
    tail: list[keras.layers.Layer] = []
    layers = list(model.layers)
    while layers and not isinstance(layers[-1], keras.layers.Dense) and not layers[-1].weights:
        tail.insert(0, layers.pop())
    head = layers[-1] if layers else None
    chain = [head, *tail]
    linear = head is not None and len(model.outputs) == 1 and chain[-1].output is model.outputs[0] and all(
        after.input is before.output for before, after in zip(chain, chain[1:], strict=False))
    if not isinstance(head, keras.layers.Dense) or not linear:
        last = model.layers[-1]
        raise ModelError(f"`model.replace_head` needs a model whose output comes from a Dense layer "
                         f"(optionally followed by weightless layers such as Activation); {model.name!r} "
                         f"ends with {type(last).__name__} {last.name!r}.")
    if head.units == units:
        return model
    activation = head.activation if output_activation == "auto" else check_activation(
        output_activation, "output_activation")
    kept = {layer.name for layer in layers[:-1]} | {layer.name for layer in tail}
    x = keras.layers.Dense(units, activation=activation, kernel_initializer=make.initializer(),
                           kernel_regularizer=make.regularizer(),
                           name="head" if "head" not in kept else f"head_{units}")(head.input)
    for layer in tail:
        x = layer(x)
    return keras.Model(model.inputs, x, name=model.name)
