"""Turn a float model into a quantization-aware one: the functional form of QAT."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

import keras
import numpy as np

from kerasopt.compression import cloning
from kerasopt.compression.layers import QUANTIZATION_OPT_IN, Support, select, walk
from kerasopt.compression.quantization import _graph
from kerasopt.compression.quantization.activation_quantizer import (
    RANGED_LAYERS,
    ActivationQuantizer,
)
from kerasopt.compression.quantization.fold_batch_norms import (
    batch_norm_as_depthwise,
    fold_batch_norms,
    is_standalone_batch_norm,
)
from kerasopt.compression.quantization.quantize_wrapper import SUPPORTED_LAYERS, QuantizeWrapper
from kerasopt.models.stochastic_depth import StochasticDepth

PASS_THROUGH_LAYERS: tuple[type, ...] = (
    keras.layers.Flatten, keras.layers.Reshape, keras.layers.Dropout, keras.layers.SpatialDropout1D,
    keras.layers.SpatialDropout2D, keras.layers.MaxPooling1D, keras.layers.MaxPooling2D, keras.layers.AveragePooling1D,
    keras.layers.AveragePooling2D, keras.layers.Identity, StochasticDepth)
"""Layers that keep their input's int8 scale (TFLite requires it of pooling): a wrapper behind one needs no range.

The dropping layers (Dropout, StochasticDepth) are the identity at inference, so they are
not in the file at all."""


def _describe(layer: Any) -> str:
    listing = ", ".join(sorted(cls.__name__ for cls in SUPPORTED_LAYERS))
    return (f"Layer {layer.name!r} is a {type(layer).__name__}, which QAT cannot quantize. Supported layer "
            f"types: {listing}, or a layer with a `quantizable_as()` method (see QuantizeWrapper).")


SUPPORT = Support("quantized", SUPPORTED_LAYERS, QUANTIZATION_OPT_IN, _describe)
"""What QAT compresses (see :mod:`kerasopt.compression.layers`)."""


def _check_opt_in(wrapper: QuantizeWrapper) -> None:
    """Refuse an opted-in layer whose own `call` differs from the computation it declared."""
    layer = wrapper.layer
    build_config = layer.get_build_config() or {}
    shape = build_config.get("input_shape")
    if not isinstance(shape, (list, tuple)) or not all(d is None or isinstance(d, int) for d in shape):
        raise ValueError(f"Layer {layer.name!r} opts in to QAT with `quantizable_as()`, but it was not built "
                         f"on one input, so its computation cannot be checked. Received: build config "
                         f"{build_config!r}")
    probe = np.random.default_rng(0).normal(size=[2 if d is None else d for d in shape]).astype("float32")
    own = keras.ops.convert_to_numpy(layer(probe))
    simulated = keras.ops.convert_to_numpy(wrapper.float_call(probe))
    if own.shape != simulated.shape or not np.allclose(own, simulated, rtol=1e-4, atol=1e-4):
        difference = float(np.max(np.abs(own - simulated))) if own.shape == simulated.shape else "shape"
        raise ValueError(
            f"Layer {layer.name!r} ({type(layer).__module__}.{type(layer).__name__}) opts in to QAT as "
            f"{wrapper.computation.__name__} with `quantizable_as()`, but its `call` computes something else "
            f"(max difference {difference} on a probe batch), so the int8 simulation would be wrong. Keep it "
            "float (leave it out of `layers`) or make its `call` that computation.")


def _integer_tensors(model: Any, chosen: set[int],
                     batch_norms: bool) -> tuple[set[int], set[int], set[int]]:
    """Which layers' outputs are int8 in the file, which of them need an ActivationQuantizer, and which
    batch norms become quantized depthwise convolutions.

    Walking the graph in order: a chosen layer's output is quantized (by its wrapper); a
    pass-through layer's is when its only input is; a layer of :data:`RANGED_LAYERS` whose
    inputs are all quantized gets a quantizer after it, so its output is too; with
    `batch_norms`, so does a batch norm left unfolded whose input is quantized (it becomes
    a wrapped kernel-1 depthwise convolution). Everything else (the raw input, a
    `Normalization` or `Rescaling` on it, a layer without an int8 kernel, a layer called
    more than once, a softmax giving the model's output, which distillation needs
    unrounded) stays float.

    Returns:
        `(quantized, ranged, affine)`: ids of the layers with an int8 output, of those
        needing a quantizer, and of the batch norms to turn into depthwise convolutions.
    """
    quantized: set[int] = set()
    ranged: set[int] = set()
    affine: set[int] = set()
    outputs = {id(t._keras_history.operation) for t in model.outputs}
    operations = getattr(model, "operations", None)
    for layer in model.layers if operations is None else operations:
        if id(layer) in chosen:
            quantized.add(id(layer))
            continue
        parents = _graph.producers(layer)
        if len(layer._inbound_nodes) != 1 or not parents or not all(id(p) in quantized for p in parents):
            continue
        if type(layer) in PASS_THROUGH_LAYERS and len(parents) == 1:
            quantized.add(id(layer))
        elif type(layer) in RANGED_LAYERS and not (id(layer) in outputs and _is_softmax(layer)):
            quantized.add(id(layer))
            ranged.add(id(layer))
        elif batch_norms and len(parents) == 1 and is_standalone_batch_norm(layer):
            quantized.add(id(layer))
            affine.add(id(layer))
    return quantized, ranged, affine


def _is_softmax(layer: Any) -> bool:
    if isinstance(layer, keras.layers.Softmax):
        return True
    activation = getattr(layer, "activation", None)  # a ReLU or Add layer has none
    return activation is not None and keras.activations.serialize(activation) == "softmax"


def _fed_by_quantized(layer: Any, quantized: set[int]) -> bool:
    """Whether `layer`'s only input is an int8 tensor already (see :func:`_integer_tensors`)."""
    parents = _graph.producers(layer)
    return len(layer._inbound_nodes) == 1 and len(parents) == 1 and id(parents[0]) in quantized


def quantize_model(model: keras.Model, *, layers: Iterable[str] | None = None,
                   layer_types: Iterable[str | type] | None = None, preserve_sparsity: bool = True,
                   fold_batch_norm: bool = True, ema_decay: float = 0.999) -> keras.Model:
    """Return a quantization-aware copy of `model`: chosen layers wrapped in :class:`QuantizeWrapper`.

    The model is cloned (`keras.models.clone_model`, nested Functional/Sequential
    models included); chosen layers become wrappers around a copy of themselves and
    every weight is copied, so `model` is left as it was. A weightless layer of
    :data:`~kerasopt.compression.quantization.activation_quantizer.RANGED_LAYERS` (Add,
    Concatenate, Activation, ReLU, global pooling...) whose inputs are all int8 gets an
    :class:`~kerasopt.compression.quantization.ActivationQuantizer` named
    `<layer>_quantize` after it, so its op runs in int8 in the TFLite file too; layers
    that keep their input's scale (Flatten, Reshape, Dropout, max- and average pooling)
    need none. With the default selection (no `layers`, no `layer_types`), a
    BatchNormalization left unfolded (one after an `Add` or an activation, as on a
    ResNet's identity shortcut) whose input is int8 becomes a wrapped kernel-1 depthwise
    convolution computing its inference transform
    (:func:`~kerasopt.compression.quantization.fold_batch_norms.batch_norm_as_depthwise`),
    so it runs in int8 too; like a folded batch norm it no longer uses batch statistics
    while training. Other layers not chosen stay float: in the int8 TFLite file they run in
    float between DEQUANTIZE and QUANTIZE ops. A wrapper quantizes its own input unless
    that input is int8 already (another wrapper's or quantizer's output, through
    scale-keeping layers), so the first quantized layer quantizes what reaches it, e.g.
    the output of a `Normalization` or `Rescaling` layer at the model's start, never the
    raw input.

    The returned model is not compiled, even when `model` was (as tfmot's
    `quantize_model`): compile it before fitting it; fine-tune 1-3 epochs at about a tenth
    of the training learning rate. Its activation ranges start at [-6, 6] and take the
    first training batch's range on the first step; :func:`calibrate_ranges` sets them
    from data first if you want to evaluate it before training.

    Args:
        model: A built Functional or Sequential model (a subclassed one is refused).
        layers: fnmatch patterns of the names (or `outer/inner` qualified names) of the
            layers to quantize. Defaults to `None` (every supported layer: of a supported
            type exactly, not a subclass, or opting in with `quantizable_as()`).
        layer_types: Layer class names (or classes) to quantize, from `Dense`, `Conv1D`,
            `Conv2D`, `DepthwiseConv1D`, `DepthwiseConv2D`; with `layers`, a layer must match both (the rule
            of :func:`kerasopt.compression.layers.select`, shared by every technique).
            Defaults to `None`.
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
            quantization-aware, a pattern that matches no layer, a layer or type QAT does
            not support (the message lists the supported types), or a layer opting in
            with `quantizable_as()` whose `call` computes something else.
        UnsupportedBackendError: (a ValueError) With `preserve_sparsity=True` under a Keras
            backend other than TensorFlow; see `kerasopt._backend.TENSORFLOW_ONLY`.

    Example:
        >>> model = keras.Sequential([keras.Input((4,)), keras.layers.Dense(8, activation="relu"),
        ...                           keras.layers.Dense(2)])
        >>> qat = quantize_model(model)
        >>> [(type(layer).__name__, layer.quantize_inputs) for layer in qat.layers]
        [('QuantizeWrapper', True), ('QuantizeWrapper', False)]
    """
    for arg, value in (("preserve_sparsity", preserve_sparsity), ("fold_batch_norm", fold_batch_norm)):
        if not isinstance(value, bool):
            raise ValueError(f"`{arg}` must be True or False. Received: {arg}={value!r}")
    if isinstance(ema_decay, bool) or not isinstance(ema_decay, (int, float)) or not 0 < ema_decay < 1:
        raise ValueError(f"`ema_decay` must be in (0, 1). Received: ema_decay={ema_decay!r}")
    _graph.check_graph_model(model, "quantize_model")
    wrapped = [name for name, layer in walk(model) if isinstance(layer, QuantizeWrapper)]
    if wrapped:
        raise ValueError(f"Model {model.name!r} is already quantization-aware (QuantizeWrapper layers: "
                         f"{', '.join(wrapped)}); quantize the float model once.")
    if fold_batch_norm:
        model = fold_batch_norms(model)
    chosen = {id(layer) for _, layer in select(model, layers, layer_types, SUPPORT)}
    quantized: set[int] = set()
    ranged: set[int] = set()
    affine: set[int] = set()
    for graph in _graph.nested_models(model):
        found = _integer_tensors(graph, chosen, batch_norms=layers is None and layer_types is None)
        quantized, ranged, affine = quantized | found[0], ranged | found[1], affine | found[2]

    def replace(layer: Any) -> Any:
        if id(layer) in ranged:
            return [cloning.copy_layer(layer, keep_masks=True),
                    ActivationQuantizer(ema_decay=ema_decay, name=f"{layer.name}_quantize")]
        if id(layer) in affine:
            wrapper = QuantizeWrapper(batch_norm_as_depthwise(layer), quantize_inputs=False, ema_decay=ema_decay,
                                      preserve_sparsity=preserve_sparsity)
            stand_ins.add(id(wrapper))
            return wrapper
        if id(layer) not in chosen:
            return None
        return QuantizeWrapper(cloning.copy_layer(layer), quantize_inputs=not _fed_by_quantized(layer, quantized),
                               ema_decay=ema_decay, preserve_sparsity=preserve_sparsity)

    stand_ins: set[int] = set()  # id() of each wrapper standing for a batch norm

    def call(layer: Any, *args: Any, **kwargs: Any) -> Any:
        # The graph recorded the batch norm's call with `mask=None` (see fold_batch_norms):
        # its stand-in takes the tensor alone.
        if id(layer) in stand_ins:
            return layer(args[0] if args else kwargs["inputs"])
        return layer(*args, **kwargs)

    quantized = cloning.clone_with_weights(model, replace, function_name="quantize_model", compile=False,
                                           call_function=call)
    for _, wrapper in walk(quantized):
        if isinstance(wrapper, QuantizeWrapper) and type(wrapper.layer) not in SUPPORTED_LAYERS:
            _check_opt_in(wrapper)
    return quantized
