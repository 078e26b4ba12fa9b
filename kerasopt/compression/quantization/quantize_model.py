"""Turn a float model into a quantization-aware one: the functional form of QAT."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

import keras

from kerasopt.compression import cloning, selection
from kerasopt.compression.quantization import _graph
from kerasopt.compression.quantization.fold_batch_norms import fold_batch_norms
from kerasopt.compression.quantization.quantize_wrapper import SUPPORTED_LAYERS, QuantizeWrapper
from kerasopt.models.layer_walk import leaf_layers

PASS_THROUGH_LAYERS: tuple[type, ...] = (
    keras.layers.Flatten, keras.layers.Reshape, keras.layers.Dropout, keras.layers.SpatialDropout1D,
    keras.layers.SpatialDropout2D, keras.layers.MaxPooling1D, keras.layers.MaxPooling2D, keras.layers.Identity)
"""Layers that keep their input's int8 scale: a wrapper behind one needs no input range."""


def _names(value: Iterable[Any] | None, arg: str) -> list[str] | None:
    if value is None:
        return None
    if isinstance(value, (str, type)) or not isinstance(value, Iterable):
        raise ValueError(f"`{arg}` must be a list (or None). Received: {arg}={value!r}")
    names = [v.__name__ if isinstance(v, type) else v for v in value]
    if not all(isinstance(n, str) for n in names):
        raise ValueError(f"`{arg}` must hold names (strings){' or classes' if arg == 'layer_types' else ''}. "
                         f"Received: {arg}={value!r}")
    return names


def _select(model: Any, layers: list[str] | None, layer_types: list[str] | None) -> set[int]:
    supported = {cls.__name__ for cls in SUPPORTED_LAYERS}
    listing = ", ".join(sorted(supported))
    everything = leaf_layers(model)
    if layers is None and layer_types is None:
        return {id(layer) for layer in everything if selection.is_supported(layer, SUPPORTED_LAYERS)}
    chosen: set[int] = set()
    for kind in layer_types or []:
        if kind not in supported:
            raise ValueError(f"`layer_types` may only name the layer types QAT supports: {listing}. "
                             f"Received: {kind!r}")
        chosen.update(id(layer) for layer in everything if type(layer).__name__ == kind)
    by_name = {layer.name: layer for layer in everything}
    for name in layers or []:
        if name not in by_name:
            raise ValueError(f"`layers` names {name!r}, which is not a layer of model {model.name!r}. "
                             f"Its layers: {', '.join(by_name)}")
        layer = by_name[name]
        if not selection.is_supported(layer, SUPPORTED_LAYERS):
            raise ValueError(f"Layer {name!r} is a {type(layer).__name__}, which QAT cannot quantize. "
                             f"Supported layer types: {listing}.")
        chosen.add(id(layer))
    return chosen


def _fed_by_quantized(layer: Any, chosen: set[int]) -> bool:
    """Whether `layer`'s only input comes from a chosen layer, through pass-through layers only."""
    current = layer
    while True:
        parents = _graph.producers(current)
        if len(parents) != 1 or len(current._inbound_nodes) != 1:
            return False
        parent = parents[0]
        if id(parent) in chosen:
            return True
        if type(parent) not in PASS_THROUGH_LAYERS:
            return False
        current = parent


def quantize_model(model: keras.Model, *, layers: Iterable[str] | None = None,
                   layer_types: Iterable[str | type] | None = None, preserve_sparsity: bool = True,
                   fold_batch_norm: bool = True, ema_decay: float = 0.999) -> keras.Model:
    """Return a quantization-aware copy of `model`: chosen layers wrapped in :class:`QuantizeWrapper`.

    The model is cloned (`keras.models.clone_model`, nested Functional/Sequential
    models included); chosen layers become wrappers around a copy of themselves and
    every weight is copied, so `model` is left as it was. Layers not chosen stay float:
    in the int8 TFLite file they run in float between DEQUANTIZE and QUANTIZE ops
    (weightless ops with an int8 kernel that keep their input's scale, such as
    max-pooling and reshapes, stay int8). A wrapper quantizes its own input unless that
    input comes straight (through Flatten, Reshape, Dropout or max-pooling) from another
    wrapper's output, so the first quantized layer quantizes what reaches it, e.g. the
    output of a `Normalization` or `Rescaling` layer at the model's start, never the
    raw input.

    The returned model is not compiled, even when `model` was (as tfmot's
    `quantize_model`): compile it before fitting it; fine-tune 1-3 epochs at about a tenth
    of the training learning rate. Its activation ranges start at [-6, 6] and take the
    first training batch's range on the first step; :func:`calibrate_ranges` sets them
    from data first if you want to evaluate it before training.

    Args:
        model: A built Functional or Sequential model (a subclassed one is refused).
        layers: Names of the layers to quantize (each must be of a supported type exactly,
            not a subclass: the rule of :mod:`kerasopt.compression.selection`, without an
            opt-in).
            Defaults to `None`: all supported layers, unless `layer_types` is given.
        layer_types: Layer class names (or classes) to quantize, from `Dense`, `Conv1D`,
            `Conv2D`, `DepthwiseConv2D`; combined with `layers` as a union. Defaults to
            `None`.
        preserve_sparsity: Keep the zeros the kernels have (a pruned model's) exactly
            through QAT fine-tuning. Defaults to `True`.
        fold_batch_norm: Fold batch norms into the layer before them first (see
            :func:`fold_batch_norms`). Defaults to `True`.
        ema_decay: The decay of the activation ranges' moving averages, in (0, 1).
            Defaults to `0.999`.

    Returns:
        A new, uncompiled model.

    Raises:
        ValueError: For a subclassed or unbuilt model, a model that is already
            quantization-aware, an unknown layer name, or a layer or type QAT does not
            support (the message lists the supported types).
        UnsupportedBackendError: (a ValueError) With `preserve_sparsity=True` under a Keras
            backend other than TensorFlow; see `kerasopt._backend.TENSORFLOW_ONLY`.

    Example:
        >>> model = keras.Sequential([keras.Input((4,)), keras.layers.Dense(8, activation="relu"),
        ...                           keras.layers.Dense(2)])
        >>> qat = quantize_model(model)
        >>> [(type(layer).__name__, layer.quantize_inputs) for layer in qat.layers]
        [('QuantizeWrapper', True), ('QuantizeWrapper', False)]
    """
    layers, layer_types = _names(layers, "layers"), _names(layer_types, "layer_types")
    for arg, value in (("preserve_sparsity", preserve_sparsity), ("fold_batch_norm", fold_batch_norm)):
        if not isinstance(value, bool):
            raise ValueError(f"`{arg}` must be True or False. Received: {arg}={value!r}")
    if isinstance(ema_decay, bool) or not isinstance(ema_decay, (int, float)) or not 0 < ema_decay < 1:
        raise ValueError(f"`ema_decay` must be in (0, 1). Received: ema_decay={ema_decay!r}")
    _graph.check_graph_model(model, "quantize_model")
    wrapped = [layer.name for layer in leaf_layers(model) if isinstance(layer, QuantizeWrapper)]
    if wrapped:
        raise ValueError(f"Model {model.name!r} is already quantization-aware (QuantizeWrapper layers: "
                         f"{', '.join(wrapped)}); quantize the float model once.")
    if fold_batch_norm:
        model = fold_batch_norms(model)
    chosen = _select(model, layers, layer_types)
    pairs: list[tuple[Any, Any]] = []

    def clone(layer: Any) -> Any:
        new = layer.__class__.from_config(layer.get_config())
        if id(layer) in chosen:
            new = QuantizeWrapper(new, quantize_inputs=not _fed_by_quantized(layer, chosen), ema_decay=ema_decay,
                                  preserve_sparsity=preserve_sparsity)
        pairs.append((layer, new))
        return new

    quantized = cloning.clone_graph_model(model, clone, compile=False)
    for old, new in pairs:
        if isinstance(new, QuantizeWrapper):
            _graph.copy_weights(old, new.layer)
            if preserve_sparsity:
                new.update_sparsity_mask()
        else:
            _graph.copy_weights(old, new)
    return quantized
