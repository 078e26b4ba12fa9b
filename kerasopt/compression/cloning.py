"""Rebuild a Sequential/Functional model layer by layer: the one clone pruning, clustering and QAT use.

`keras.models.clone_model` almost does it, but a Functional clone gets input layers named
after the input *tensors* (`keras_tensor`, `keras_tensor_3`...) instead of the original
input layers (`input_layer`, `pixels`...), so a stripped model's config, input names and
signature differ from the original's; it gives a nested subclassed model to
`from_config`, which fails with a TypeError; and it always compiles the clone of a compiled
model. :func:`clone_graph_model` keeps every input layer's name (nested models included)
and can leave the clone uncompiled; :func:`check_graph_model` refuses a subclassed model
at any depth with a ValueError first.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import keras
from keras import tree


def is_graph_model(model: Any) -> bool:
    """Whether `model` is a Sequential or Functional model (which `clone_model` can rebuild)."""
    if isinstance(model, keras.Sequential):
        return True
    return isinstance(model, keras.Model) and any(
        klass.__name__ == "Functional" for klass in type(model).__mro__)


def nested_models(model: Any) -> list[Any]:
    """Every model nested inside `model`, at any depth."""
    found = []
    for layer in model.layers:
        if isinstance(layer, keras.Model):
            found.append(layer)
            if is_graph_model(layer):
                found.extend(nested_models(layer))
    return found


def check_graph_model(model: Any, function_name: str, hint: str) -> None:
    """Raise a ValueError unless `model` and every model nested in it are Sequential or Functional.

    Args:
        model: The model received.
        function_name: Named in the message.
        hint: What to do instead, appended to the message for a subclassed model.
    """
    if not isinstance(model, keras.Model):
        raise ValueError(f"{function_name} needs a keras.Model (Keras 3). Received an object of type "
                         f"{type(model).__module__}.{type(model).__qualname__}.")
    for candidate in [model, *nested_models(model)]:
        if not is_graph_model(candidate):
            where = "" if candidate is model else f" (nested in model {model.name!r})"
            raise ValueError(
                f"{function_name} needs a Sequential or Functional model, whose layers it "
                f"rebuilds; {candidate.name!r}{where} is a subclassed model of type "
                f"{type(candidate).__module__}.{type(candidate).__qualname__}. {hint}")


def _input_like(tensor: Any) -> Any:
    """A new input tensor like `tensor`, from an input layer of the same name."""
    layer = tensor._keras_history.operation
    return keras.Input(batch_shape=tensor.shape, dtype=tensor.dtype, sparse=tensor.sparse,
                       name=layer.name, optional=getattr(layer, "optional", False))


def clone_graph_model(model: Any, clone_layer: Callable[[Any], Any], *,
                      compile: bool = True) -> keras.Model:
    """Clone a Sequential/Functional model, nested ones included, keeping input layer names.

    Args:
        model: A Sequential or Functional model (check it with :func:`check_graph_model`).
        clone_layer: `fn(layer) -> new layer`, called once per layer that is not a model
            (a layer shared between calls or models is cloned once).
        compile: Whether the clone of a compiled model is compiled from its compile config,
            as `keras.models.clone_model` does (a fresh optimizer). With False the clone
            is left uncompiled. Defaults to `True`.

    Returns:
        The new model, of the same structure and names.
    """
    cache: dict[int, Any] = {}

    def clone_function(layer: Any) -> Any:
        if id(layer) not in cache:
            cache[id(layer)] = clone(layer) if is_graph_model(layer) else clone_layer(layer)
        return cache[id(layer)]

    def clone(graph: Any) -> Any:
        inputs = None
        if not isinstance(graph, keras.Sequential):
            inputs = tree.map_structure(_input_like, graph.input)
        return keras.models.clone_model(graph, clone_function=clone_function, input_tensors=inputs)

    if compile or not model.compiled:
        return clone(model)
    # clone_model compiles the clone of a compiled model; it reads only this flag to decide.
    model.compiled = False
    try:
        return clone(model)
    finally:
        model.compiled = True
