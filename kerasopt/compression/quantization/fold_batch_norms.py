"""Fold BatchNormalization layers into the Dense/Conv layer that feeds them."""

from __future__ import annotations

from typing import Any

import keras
import numpy as np

from kerasopt.compression import cloning
from kerasopt.compression.quantization import _graph

FOLDABLE_LAYERS: tuple[type, ...] = (keras.layers.Dense, keras.layers.Conv1D, keras.layers.Conv2D,
                                     keras.layers.DepthwiseConv1D, keras.layers.DepthwiseConv2D)
_DEPTHWISE = (keras.layers.DepthwiseConv1D, keras.layers.DepthwiseConv2D)
"""The layers a following BatchNormalization folds into."""


def _foldable(bn: Any, table: dict[int, list[Any]]) -> Any:
    """The layer `bn` folds into, or None."""
    if type(bn) is not keras.layers.BatchNormalization:
        return None
    layer = _graph.input_producer(bn)  # a mask passed alongside does not matter in inference mode
    if type(layer) not in FOLDABLE_LAYERS:
        return None
    rank = len(bn.output.shape)
    if (len(layer._inbound_nodes) != 1 or table.get(id(layer)) != [bn] or bn.axis not in (-1, rank - 1)
            or keras.activations.serialize(layer.activation) != "linear"
            or getattr(layer, "data_format", "channels_last") != "channels_last"):
        return None
    return layer


def _affine(bn: Any) -> tuple[np.ndarray, np.ndarray]:
    """`(s, t)` with `bn(x) = x * s + t` per channel in inference mode (float64)."""
    mean = keras.ops.convert_to_numpy(bn.moving_mean).astype("float64")
    variance = keras.ops.convert_to_numpy(bn.moving_variance).astype("float64")
    gamma = keras.ops.convert_to_numpy(bn.gamma).astype("float64") if bn.scale else np.ones_like(mean)
    beta = keras.ops.convert_to_numpy(bn.beta).astype("float64") if bn.center else np.zeros_like(mean)
    factor = gamma / np.sqrt(variance + bn.epsilon)
    return factor, beta - mean * factor


def _folded_weights(layer: Any, bn: Any) -> list[np.ndarray]:
    """Kernel and bias of `layer` followed by `bn` in inference mode, as one layer."""
    kernel = keras.ops.convert_to_numpy(layer.kernel).astype("float64")
    channels = kernel.shape[-1] * (kernel.shape[-2] if isinstance(layer, _DEPTHWISE) else 1)
    bias = keras.ops.convert_to_numpy(layer.bias).astype("float64") if layer.use_bias else np.zeros(channels)
    factor, shift = _affine(bn)
    # A depthwise convolution's output channel c * multiplier + m comes from kernel[..., c, m].
    shaped = factor.reshape(kernel.shape[-2:]) if isinstance(layer, _DEPTHWISE) else factor
    dtype = layer.kernel.dtype
    return [(kernel * shaped).astype(dtype), (bias * factor + shift).astype(dtype)]


def is_standalone_batch_norm(layer: Any) -> bool:
    """Whether `layer` is a BatchNormalization over the channels of a sequence or image, called once.

    Such a batch norm, left by :func:`fold_batch_norms` (nothing to fold into: it follows an
    `Add` or an activation, as a ResNet's identity shortcut does), can run as the kernel-1
    depthwise convolution :func:`batch_norm_as_depthwise` gives.
    """
    if type(layer) is not keras.layers.BatchNormalization or len(layer._inbound_nodes) != 1:
        return False
    rank = len(layer.output.shape)
    return rank in (3, 4) and layer.axis in (-1, rank - 1)


def batch_norm_as_depthwise(bn: Any) -> keras.layers.Layer:
    """A kernel-1 `DepthwiseConv1D`/`DepthwiseConv2D` named like `bn` that computes its inference transform.

    Channel `c` is multiplied by `s_c = gamma_c / sqrt(moving_variance_c + epsilon)` and
    `beta_c - moving_mean_c * s_c` is added: what TFLite computes for a frozen batch norm
    (as a float MUL and ADD), written as an op that quantizes to int8 per channel. It no
    longer normalizes with batch statistics while training, like a folded batch norm.

    Args:
        bn: A layer for which :func:`is_standalone_batch_norm` holds.

    Returns:
        The built layer, holding the weights.
    """
    if not is_standalone_batch_norm(bn):
        raise ValueError(f"Layer {bn.name!r} ({type(bn).__name__}) is not a BatchNormalization over the last "
                         "axis of a sequence or image called once.")
    shape = tuple(bn.input.shape)
    depthwise = keras.layers.DepthwiseConv1D if len(shape) == 3 else keras.layers.DepthwiseConv2D
    layer = depthwise(kernel_size=1, use_bias=True, name=bn.name, dtype=bn.dtype_policy)
    layer.build(shape)
    factor, shift = _affine(bn)
    dtype = layer.kernel.dtype
    layer.set_weights([factor.reshape(layer.kernel.shape).astype(dtype), shift.astype(dtype)])
    return layer


def fold_batch_norms(model: keras.Model) -> keras.Model:
    """Return a copy of `model` with each BatchNormalization folded into the layer before it.

    A `Dense`, `Conv1D`, `Conv2D` or depthwise convolution with a linear activation whose
    only consumer is a `BatchNormalization` over the channel (last) axis becomes one
    layer of the same type and name with `use_bias=True`, kernel `W * s` and bias
    `(b - mean) * s + beta`, where `s = gamma / sqrt(moving_variance + epsilon)` per
    channel: the batch norm's inference-mode transform, so predictions are unchanged
    (to float rounding). The batch norm becomes a `keras.layers.Identity` of the same
    name; a Keras mask passes through it as it passed through the batch norm, which
    ignores it in inference mode. Other batch norms (on the input, after an `Add` or an
    activation, on a shared output, over another axis) stay as they are: float,
    training on batch statistics. Nested Functional/Sequential models are folded too.

    Folding is what TFLite does to a frozen model; before QAT it makes the fake
    quantization see the weights that will actually be deployed. The folded model
    trains without batch statistics, so fine-tune it at a small learning rate.

    Args:
        model: A built Functional or Sequential model.

    Returns:
        A new model; `model` is left untouched.

    Raises:
        ValueError: For a subclassed or unbuilt model.

    Example:
        >>> import numpy as np
        >>> model = keras.Sequential([keras.Input((4,)), keras.layers.Dense(3, use_bias=False),
        ...                           keras.layers.BatchNormalization(), keras.layers.ReLU()])
        >>> folded = fold_batch_norms(model)
        >>> [type(layer).__name__ for layer in folded.layers]
        ['Dense', 'Identity', 'ReLU']
        >>> x = np.ones((2, 4), "float32")
        >>> bool(np.allclose(model.predict(x, verbose=0), folded.predict(x, verbose=0), atol=1e-5))
        True
    """
    _graph.check_graph_model(model, "fold_batch_norms")
    into: dict[int, Any] = {}  # id(folded layer) -> its batch norm
    batch_norms: set[int] = set()
    for sub in _graph.nested_models(model):
        table = _graph.consumers(sub)
        for layer in sub.layers:
            target = _foldable(layer, table)
            if target is not None:
                into[id(target)] = layer
                batch_norms.add(id(layer))
    stand_ins: set[int] = set()  # id() of each Identity standing for a folded batch norm

    def replace(layer: Any) -> Any:
        if id(layer) in batch_norms:
            new = keras.layers.Identity(name=layer.name)
            stand_ins.add(id(new))
            return new
        if id(layer) not in into:
            return None
        new = layer.__class__.from_config({**layer.get_config(), "use_bias": True})
        new.build_from_config(layer.get_build_config())
        new.set_weights(_folded_weights(layer, into[id(layer)]))
        return new

    def call(layer: Any, *args: Any, **kwargs: Any) -> Any:
        # A Functional model's nodes record the arguments each layer was called with,
        # including those Keras filled in itself (`mask=None`, since
        # BatchNormalization.call takes a mask), and clone_model replays them on the
        # clone. The Identity takes the tensor alone; a Keras mask stays attached to the
        # tensor and passes through it, as it passed through the inference-mode batch norm.
        if id(layer) in stand_ins:
            return layer(args[0] if args else kwargs["inputs"])
        return layer(*args, **kwargs)

    return cloning.clone_with_weights(model, replace, function_name="fold_batch_norms", call_function=call)
