"""Who feeds whom in a Functional or Sequential model: the graph walks of BN folding and QAT.

Keras has no public API for a layer's producers; this module is the one place that reads
the private `Layer._inbound_nodes` / `Node.parent_nodes` / `Node.arguments`
(tests/compression/quantization checks that they still exist).
"""

from __future__ import annotations

from typing import Any

import keras


def check_graph_model(model: Any, what: str) -> None:
    """Refuse anything but a built Functional or Sequential model, naming what was received."""
    if not isinstance(model, keras.Model):
        raise ValueError(f"{what} needs a keras.Model. Received: {type(model).__module__}.{type(model).__name__}")
    if not (isinstance(model, keras.Sequential) or type(model).__name__ == "Functional"):
        raise ValueError(
            f"{what} works on Functional and Sequential models, whose layer graph it can rewrite; "
            f"{type(model).__module__}.{type(model).__name__} is a subclassed model. Build the same network "
            f"with keras.Model(inputs, outputs) or keras.Sequential([...]) and copy the weights over.")
    if not model.built or not model.inputs:
        raise ValueError(f"{what} needs a built model (call it once or give Sequential an keras.Input). "
                         f"Received: model {model.name!r} with built={model.built}")


def producers(layer: Any) -> list[Any]:
    """The operations (layers, InputLayers) whose outputs `layer` takes, over all its calls."""
    found: list[Any] = []
    for node in layer._inbound_nodes:
        for parent in node.parent_nodes:
            if all(parent.operation is not f for f in found):
                found.append(parent.operation)
    return found


def input_producer(layer: Any) -> Any:
    """The operation whose output is the first argument of `layer`'s only call, or None.

    Unlike :func:`producers` this leaves out tensors passed as other arguments, such as
    the `mask` Keras hands a `BatchNormalization` behind an `Embedding(mask_zero=True)`.
    """
    if len(layer._inbound_nodes) != 1:
        return None
    arguments = layer._inbound_nodes[0].arguments
    first = arguments.args[0] if arguments.args else arguments.kwargs.get("inputs")
    history = getattr(first, "_keras_history", None)
    return None if history is None else history.operation


def consumers(model: Any) -> dict[int, list[Any]]:
    """Map `id(layer)` to the operations of `model` (not nested ones) that take its output.

    A Functional model's operations include those that are not layers (`h + 1` records an
    `Add` operation, which `model.layers` leaves out); a Sequential model has layers only.
    """
    table: dict[int, list[Any]] = {}
    operations = getattr(model, "operations", None)
    for layer in model.layers if operations is None else operations:
        for parent in producers(layer):
            table.setdefault(id(parent), []).append(layer)
    for output in model.outputs:  # a model output counts as one more consumer
        history = output._keras_history
        table.setdefault(id(history.operation), []).append(model)
    return table


def nested_models(model: Any) -> list[Any]:
    """`model` and every Functional/Sequential model inside it, outermost first."""
    found = [model]
    for layer in model.layers:
        if isinstance(layer, keras.Model):
            found.extend(nested_models(layer))
    return found
