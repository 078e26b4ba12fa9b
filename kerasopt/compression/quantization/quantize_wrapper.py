"""The quantization-aware training wrapper for Dense, Conv1D, Conv2D, DepthwiseConv1D and DepthwiseConv2D."""

from __future__ import annotations

from typing import Any

import keras
from keras import ops

from kerasopt._backend import require_tensorflow
from kerasopt.compression.masking import attach_mask
from kerasopt.compression.quantization import _fake_quant
from kerasopt.registry import register

SUPPORTED_LAYERS: tuple[type, ...] = (keras.layers.Dense, keras.layers.Conv1D, keras.layers.Conv2D,
                                      keras.layers.DepthwiseConv1D, keras.layers.DepthwiseConv2D)
"""The layer classes :class:`QuantizeWrapper` accepts (exactly these, not subclasses)."""

FUSED_ACTIVATIONS = ("linear", "relu", "relu6")
"""Activations TFLite fuses into the int8 op: only the activated output gets a range."""

INITIAL_RANGE = (-6.0, 6.0)
"""The activation range before the first observation (replaced by the first batch's)."""


def _supported_names() -> str:
    return ", ".join(cls.__name__ for cls in SUPPORTED_LAYERS)


def computation(layer: Any) -> type:
    """The built-in class whose computation quantizes `layer`: its own type, or what it opts in as.

    A custom layer opts in to QAT with a `quantizable_as()` method returning one of
    :data:`SUPPORTED_LAYERS`, of which it must be an instance: a promise that its `call`
    computes exactly what that class computes from its `kernel`, `bias`, `activation`
    and convolution settings (a subclass that adds a regularizer, an initializer or a
    constraint, say). :func:`quantize_model` checks the promise on a probe batch.

    Raises:
        ValueError: Naming the layer, unless it is of a supported type exactly or opts in
            with a supported class it is an instance of.
    """
    if type(layer) in SUPPORTED_LAYERS:
        return type(layer)
    opted = getattr(layer, "quantizable_as", None)
    declared = opted() if callable(opted) else None
    if declared in SUPPORTED_LAYERS and isinstance(layer, declared):
        return declared
    if callable(opted):
        raise ValueError(f"Layer {getattr(layer, 'name', layer)!r} of type {type(layer).__module__}."
                         f"{type(layer).__name__} opts in to QAT with `quantizable_as()`, which must return "
                         f"one of {_supported_names()} that the layer is an instance of. Received: {declared!r}")
    subclass = ""
    if isinstance(layer, SUPPORTED_LAYERS):
        subclass = (" It subclasses a supported type, but layers are matched by exact type (a subclass may "
                    "compute differently); if its `call` computes exactly what its base class computes, give "
                    "it a `quantizable_as()` method returning that class to opt in.")
    raise ValueError(f"QuantizeWrapper cannot quantize layer {getattr(layer, 'name', layer)!r} of type "
                     f"{type(layer).__module__}.{type(layer).__name__}. Supported layer types: "
                     f"{_supported_names()}, or a layer with a `quantizable_as()` method.{subclass}")


@register("layer")
class QuantizeWrapper(keras.layers.Wrapper):
    """Simulate int8 inference of a layer during training (quantization-aware training).

    The wrapped layer's kernel is fake-quantized per output channel, symmetric, to the
    narrow int8 range [-127, 127] (what TFLite expects for weights); its output is
    fake-quantized per tensor, asymmetric, to 256 levels over a range learned as an
    exponential moving average (EMA) of the batch ranges while `training=True` and used
    frozen otherwise (Jacob et al. 2018, "Quantization and Training of Neural Networks
    for Efficient Integer-Arithmetic-Only Inference", section 3). Rounding passes the
    gradient straight through inside the range and zero outside it.

    Activations TFLite fuses into the op (linear, ReLU, ReLU6) are quantized once,
    after the activation. Any other activation gets a range before it as well, so the
    int8 op still has an output range; TFLite then runs the activation in int8 when it
    has an int8 kernel (sigmoid, tanh, softmax, GELU, ...) and in float between
    DEQUANTIZE and QUANTIZE otherwise (ELU).

    With `quantize_inputs=True` the layer's input gets its own range too: right for the
    first quantized layer of a model and for any layer fed by a float op; a layer whose
    input comes straight from another wrapper's output needs none (:func:`quantize_model`
    decides). The Keras model exported with
    :func:`kerasopt.export.tflite.export_tflite` and `quantization="int8"` turns into int8
    CONV_2D / DEPTHWISE_CONV_2D ops with these exact ranges. Dense runs as a 1x1
    convolution: TFLite's converter cannot give FULLY_CONNECTED per-channel weights from
    fake-quantized kernels (it fails transposing them), while CONV_2D takes them.

    With `preserve_sparsity=True` the kernel's zeros at build time (a pruned layer's)
    are kept exactly through training, by a mask (see
    :func:`kerasopt.compression.masking.attach_mask`); the mask is saved with the layer.

    A custom layer opts in with a `quantizable_as()` method returning the supported class
    whose computation its `call` performs (see :func:`computation`): the wrapper then
    computes that class's int8 simulation from the layer's kernel, bias and settings, not
    the layer's own `call`. This is all QAT can do right for a custom layer: the int8
    TFLite file holds the ops of a supported computation, so a layer that computes anything
    else cannot be quantized this way (keep it float: leave it out of `layers`).

    Args:
        layer: A `Dense`, `Conv1D`, `Conv2D`, `DepthwiseConv1D` or `DepthwiseConv2D` layer (or a layer that
            opts in as one), channels-last, not quantized by `Model.quantize` and
            without LoRA.
        quantize_inputs: Whether to learn a range for the layer's input. Defaults to `True`.
        ema_decay: The decay of the moving averages of the ranges, in (0, 1). Defaults to
            `0.999`.
        preserve_sparsity: Whether to keep the kernel's zeros. Defaults to `True`.
        **kwargs: Base layer arguments (`name`, ...).

    Raises:
        ValueError: For an unsupported layer (naming it and listing the supported
            types) or a bad argument.
        UnsupportedBackendError: (a ValueError) With `preserve_sparsity=True` under a Keras
            backend other than TensorFlow; see `kerasopt._backend.TENSORFLOW_ONLY`.

    Example:
        >>> import numpy as np
        >>> layer = QuantizeWrapper(keras.layers.Dense(3, activation="relu"))
        >>> y = layer(np.linspace(-1, 1, 8, dtype="float32").reshape(2, 4), training=True)
        >>> tuple(y.shape), float(layer.observations.numpy())
        ((2, 3), 1.0)
    """

    def __init__(self, layer: keras.layers.Layer, quantize_inputs: bool = True, ema_decay: float = 0.999,
                 preserve_sparsity: bool = True, **kwargs: Any) -> None:
        kind = computation(layer)
        if getattr(layer, "data_format", "channels_last") != "channels_last":
            raise ValueError(f"QuantizeWrapper needs channels_last layers (TFLite's layout). Received: layer "
                             f"{layer.name!r} with data_format={layer.data_format!r}")
        if getattr(layer, "groups", 1) != 1:
            raise ValueError(f"QuantizeWrapper supports convolutions with groups=1. Received: layer {layer.name!r} "
                             f"with groups={layer.groups}")
        if getattr(layer, "quantization_mode", None) or getattr(layer, "lora_enabled", False):
            raise ValueError(f"QuantizeWrapper needs a float layer without LoRA; layer {layer.name!r} has "
                             f"quantization_mode={getattr(layer, 'quantization_mode', None)!r}, "
                             f"lora_enabled={getattr(layer, 'lora_enabled', False)}")
        for arg, value in (("quantize_inputs", quantize_inputs), ("preserve_sparsity", preserve_sparsity)):
            if not isinstance(value, bool):
                raise ValueError(f"`{arg}` must be True or False. Received: {arg}={value!r}")
        if preserve_sparsity:
            require_tensorflow("kerasopt.compression.quantization.QuantizeWrapper(preserve_sparsity=True)")
        if isinstance(ema_decay, bool) or not isinstance(ema_decay, (int, float)) or not 0 < ema_decay < 1:
            raise ValueError(f"`ema_decay` must be in (0, 1). Received: ema_decay={ema_decay!r}")
        kwargs.setdefault("name", f"quantize_{layer.name}")
        super().__init__(layer, **kwargs)
        self.quantize_inputs = quantize_inputs
        self.ema_decay = ema_decay
        self.preserve_sparsity = preserve_sparsity
        self.fused_activation = keras.activations.serialize(layer.activation) in FUSED_ACTIVATIONS
        self.calibrating = False
        self.computation = kind

    def build(self, input_shape: Any) -> None:
        """Build the wrapped layer, the range variables and the sparsity mask."""
        super().build(input_shape)
        if isinstance(self.layer, keras.layers.Dense) and any(d is None for d in input_shape[1:]):
            raise ValueError(f"QuantizeWrapper needs Dense inputs with known non-batch dimensions. Received: "
                             f"input shape {tuple(input_shape)} for layer {self.layer.name!r}")
        names = [n for n, on in (("input", self.quantize_inputs), ("pre_activation", not self.fused_activation),
                                 ("output", True)) if on]
        for name in names:
            for end, value in (("min", INITIAL_RANGE[0]), ("max", INITIAL_RANGE[1])):
                setattr(self, f"{name}_{end}", self.add_weight(
                    name=f"{name}_{end}", shape=(), initializer=keras.initializers.Constant(value),
                    trainable=False, dtype="float32"))
        self.observations = self.add_weight(name="observations", shape=(), initializer="zeros", trainable=False,
                                            dtype="float32")
        if self.preserve_sparsity:
            kernel = self.layer.kernel
            self.kernel_mask = self.add_weight(name="kernel_mask", shape=kernel.shape, initializer="ones",
                                               trainable=False, dtype=kernel.dtype)
            self.update_sparsity_mask()

    def update_sparsity_mask(self) -> None:
        """Set the mask to the kernel's current nonzero pattern (after loading pruned weights into it)."""
        if not self.preserve_sparsity:
            raise ValueError(f"Layer {self.name!r} was built with preserve_sparsity=False; it has no mask.")
        kernel = self.layer.kernel
        self.kernel_mask.assign(ops.cast(ops.not_equal(kernel, 0), kernel.dtype))
        attach_mask(kernel, self.kernel_mask)

    def _quantize(self, x: Any, name: str, update: bool) -> Any:
        low, high = getattr(self, f"{name}_min"), getattr(self, f"{name}_max")
        if update:
            _fake_quant.observe(x, low, high, self.observations,
                                ema_decay=None if self.calibrating else self.ema_decay)
        return _fake_quant.quantize_activations(x, low, high)

    def call(self, inputs: Any, training: bool | None = None) -> Any:
        """Run the layer with fake-quantized input (optional), kernel and output."""
        update = bool(training) or self.calibrating
        x = self._quantize(inputs, "input", update) if self.quantize_inputs else inputs
        y = self._linear(x)
        if self.layer.use_bias:
            y = ops.add(y, self.layer.bias)
        if not self.fused_activation:
            y = self._quantize(y, "pre_activation", update)
        y = self._quantize(self.layer.activation(y), "output", update)
        if update:
            self.observations.assign(self.observations + 1.0)
        return y

    def float_call(self, inputs: Any) -> Any:
        """What the wrapper computes without any quantization: the supported computation in float.

        Equal to `self.layer(inputs)` (to float rounding) for a supported layer; for a layer
        that opts in with `quantizable_as()`, :func:`quantize_model` compares the two.
        """
        y = self._linear(inputs, quantize=False)
        if self.layer.use_bias:
            y = ops.add(y, self.layer.bias)
        return self.layer.activation(y)

    def _linear(self, x: Any, quantize: bool = True) -> Any:
        layer, kernel = self.layer, self.layer.kernel

        def quantized(weights: Any, axis: int) -> Any:
            return _fake_quant.quantize_weights(weights, axis) if quantize else weights

        if self.computation is keras.layers.Dense:  # as a 1x1 convolution, see the class docstring
            units = kernel.shape[-1]
            weights = quantized(ops.reshape(kernel, (1, 1, *kernel.shape)), -1)
            y = ops.conv(ops.reshape(x, (-1, 1, 1, kernel.shape[0])), weights)
            return ops.reshape(y, (-1, *x.shape[1:-1], units))
        if self.computation is keras.layers.DepthwiseConv2D:
            h, w, channels, multiplier = kernel.shape
            flat = quantized(ops.reshape(kernel, (h, w, 1, channels * multiplier)), -1)
            return ops.depthwise_conv(x, ops.reshape(flat, kernel.shape), strides=layer.strides,
                                      padding=layer.padding, data_format="channels_last",
                                      dilation_rate=layer.dilation_rate)
        if self.computation in (keras.layers.Conv1D, keras.layers.DepthwiseConv1D):  # in 2D over a height of 1
            padding = layer.padding
            if padding == "causal":
                x = ops.pad(x, [[0, 0], [layer.dilation_rate[0] * (layer.kernel_size[0] - 1), 0], [0, 0]])
                padding = "valid"
            settings = {"strides": (1, layer.strides[0]), "padding": padding, "data_format": "channels_last",
                        "dilation_rate": (1, layer.dilation_rate[0])}
            if self.computation is keras.layers.Conv1D:
                return ops.squeeze(ops.conv(ops.expand_dims(x, 1), quantized(ops.reshape(kernel, (1, *kernel.shape)),
                                                                             -1), **settings), 1)
            steps, channels, multiplier = kernel.shape
            flat = quantized(ops.reshape(kernel, (1, steps, 1, channels * multiplier)), -1)
            weights = ops.reshape(flat, (1, steps, channels, multiplier))
            return ops.squeeze(ops.depthwise_conv(ops.expand_dims(x, 1), weights, **settings), 1)
        return ops.conv(x, quantized(kernel, -1), strides=layer.strides, padding=layer.padding,
                        data_format="channels_last", dilation_rate=layer.dilation_rate)

    def compute_output_shape(self, input_shape: Any) -> Any:
        """The wrapped layer's output shape."""
        return self.layer.compute_output_shape(input_shape)

    def get_config(self) -> dict[str, Any]:
        """The constructor arguments (the wrapped layer serialized)."""
        return {**super().get_config(), "quantize_inputs": self.quantize_inputs, "ema_decay": self.ema_decay,
                "preserve_sparsity": self.preserve_sparsity}
