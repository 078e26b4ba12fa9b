"""Copy a model with its weights, layer by layer: the one clone every compression step uses.

:func:`clone_with_weights` rebuilds a Sequential/Functional model (nested ones included)
with each layer copied with its weights, or replaced by what a technique makes of it
(a pruning, clustering or QAT wrapper around the copy, the stripped layer, a folded
batch norm). :func:`copy_model` is the plain copy (a distillation teacher, the float
model kept before compression).

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

from kerasopt.compression.masking import MaskConstraint, attach_mask


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
                      compile: bool = True, call_function: Callable[..., Any] | None = None) -> keras.Model:
    """Clone a Sequential/Functional model, nested ones included, keeping input layer names.

    Args:
        model: A Sequential or Functional model (check it with :func:`check_graph_model`).
        clone_layer: `fn(layer) -> new layer`, called once per layer that is not a model
            (a layer shared between calls or models is cloned once). It may return a list
            of layers instead, applied one after the other where the layer stood (low-rank
            factorization's two layers): the clone then holds them all, flat.
        compile: Whether the clone of a compiled model is compiled from its compile config,
            as `keras.models.clone_model` does (a fresh optimizer). With False the clone
            is left uncompiled. Defaults to `True`.
        call_function: `fn(layer, *args, **kwargs)`, called instead of each cloned layer's
            call in Functional models (`keras.models.clone_model`'s; Sequential models
            list their layers and have none). Defaults to `None`.

    Returns:
        The new model, of the same structure and names.
    """
    cache: dict[int, Any] = {}
    chains: dict[int, list[Any]] = {}  # the last layer of a returned list -> the whole list

    def clone_function(layer: Any) -> Any:
        if id(layer) not in cache:
            new = clone(layer) if is_graph_model(layer) else clone_layer(layer)
            if isinstance(new, list):
                chains[id(new[-1])] = new
                new = new[-1]
            cache[id(layer)] = new
        return cache[id(layer)]

    def call_chain(layer: Any, *args: Any, **kwargs: Any) -> Any:
        chain = chains.get(id(layer), [layer])
        outputs = call_function(chain[0], *args, **kwargs) if call_function else chain[0](*args, **kwargs)
        for later in chain[1:]:
            outputs = later(outputs)
        return outputs

    def clone(graph: Any) -> Any:
        if isinstance(graph, keras.Sequential):
            layers = [clone_function(layer) for layer in graph.layers]
            if not any(id(layer) in chains for layer in layers):
                return keras.models.clone_model(graph, clone_function=clone_function)
            return _sequential_like(graph, [part for layer in layers for part in chains.get(id(layer), [layer])])
        inputs = tree.map_structure(_input_like, graph.input)
        return keras.models.clone_model(graph, clone_function=clone_function, input_tensors=inputs,
                                        call_function=call_chain)

    if compile or not model.compiled:
        return clone(model)
    # clone_model compiles the clone of a compiled model; it reads only this flag to decide.
    model.compiled = False
    try:
        return clone(model)
    finally:
        model.compiled = True


def _sequential_like(model: Any, layers: list[Any]) -> keras.Sequential:
    """A Sequential of `layers` with `model`'s name and input layer (`keras.models.clone_model`'s rule)."""
    first = model._layers[0]  # noqa: SLF001 - the input layer, which `model.layers` leaves out
    if isinstance(first, keras.layers.InputLayer):
        layers = [keras.Input(batch_shape=first.batch_shape, dtype=first.dtype, name=first.name,
                              optional=first.optional), *layers]
    clone = keras.Sequential(layers, name=model.name, trainable=model.trainable)
    if model.compiled:
        clone.compile_from_config(model.get_compile_config())
    return clone


def copy_layer(layer: Any, *, keep_masks: bool = False) -> Any:
    """A new layer of the same class and config, built as `layer` was and holding its weights.

    Preprocessing layers (an adapted `Normalization`) compute what `call` uses from their
    variables in `finalize_state`, which `set_weights` alone does not run; it runs here.

    Args:
        layer: The layer to copy.
        keep_masks: Whether a weight held at zero by a mask
            (:func:`kerasopt.compression.masking.attach_mask`, as a pruning stage leaves its
            kernels) keeps its mask in the copy. The layers :func:`clone_with_weights` leaves
            as they are keep theirs; a wrapper's inner layer, copied to be wrapped or
            stripped, does not (the wrapper owns that mask). Defaults to `False`.
    """
    new = layer.__class__.from_config(layer.get_config())
    if not isinstance(layer, keras.layers.Layer):  # an operation a Functional graph records (`not_equal`)
        return new
    build_config = layer.get_build_config() if layer.built else None
    if build_config is not None and not new.built:
        new.build_from_config(build_config)
    if layer.weights:
        if not new.built:
            raise ValueError(f"Layer {layer.name!r} ({type(layer).__module__}.{type(layer).__qualname__}) "
                             "holds weights but cannot be rebuilt from its build config, so its weights "
                             "cannot be copied.")
        new.set_weights(layer.get_weights())
        for weight, copied in zip(layer.weights, new.weights, strict=True):
            if keep_masks and isinstance(weight.constraint, MaskConstraint):  # zeros kept from an earlier stage
                mask = keras.ops.convert_to_numpy(weight.constraint.mask)
                attach_mask(copied, keras.Variable(mask, trainable=False, name=f"{copied.name}_mask"))
        finalize = getattr(new, "finalize_state", None)
        if callable(finalize):
            finalize()
    return new


def clone_with_weights(model: Any, replace: Callable[[Any], Any] | None = None, *,
                       function_name: str = "clone_with_weights", hint: str = "",
                       compile: bool = True, call_function: Callable[..., Any] | None = None) -> keras.Model:
    """Copy `model`, nested models included, each layer with its weights or replaced.

    Args:
        model: A Sequential or Functional model (at any depth).
        replace: `fn(layer) -> new layer or None`, called once per layer that is not a
            model (a shared layer once); None keeps :func:`copy_layer` of it. A new layer
            comes with its weights (made with :func:`copy_layer` and wrapped, say); a
            list of new layers is applied in order where the layer stood.
            Defaults to `None` (copy every layer).
        function_name: Named in the error for a subclassed model. Defaults to
            `"clone_with_weights"`.
        hint: What to do instead, in the error for a subclassed model. Defaults to `""`.
        compile: Whether the copy of a compiled model is compiled from its compile config
            (a fresh optimizer). Defaults to `True`.
        call_function: See :func:`clone_graph_model`. Defaults to `None`.

    Returns:
        The new model, with the original's layer and input layer names.

    Raises:
        ValueError: If `model` or a model nested in it is subclassed.

    Example:
        >>> model = keras.Sequential([keras.Input((2,)), keras.layers.Dense(1, name="d")])
        >>> copy = clone_with_weights(model)
        >>> bool((copy.get_layer("d").get_weights()[0] == model.get_layer("d").get_weights()[0]).all())
        True
    """
    check_graph_model(model, function_name, hint)

    def clone_layer(layer: Any) -> Any:
        new = replace(layer) if replace is not None else None
        return copy_layer(layer, keep_masks=True) if new is None else new

    return clone_graph_model(model, clone_layer, compile=compile, call_function=call_function)


def copy_model(model: Any) -> keras.Model:
    """An independent copy of `model` with the same weights.

    Sequential and Functional models go through :func:`clone_with_weights`; a subclassed
    model through `keras.models.clone_model` (its `from_config`) and `set_weights`. Either
    copy of a compiled model is compiled from its compile config (a fresh optimizer), as
    `keras.models.clone_model` does.
    """
    if all(is_graph_model(m) for m in [model, *nested_models(model)]):
        return clone_with_weights(model)
    copy = keras.models.clone_model(model)
    copy.set_weights(model.get_weights())
    return copy
