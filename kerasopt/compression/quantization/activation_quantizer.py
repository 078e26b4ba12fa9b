"""The fake-quantization layer that gives a tensor between quantized layers its int8 range."""

from __future__ import annotations

from typing import Any

import keras

from kerasopt.compression.quantization import _fake_quant
from kerasopt.compression.quantization.quantize_wrapper import INITIAL_RANGE
from kerasopt.registry import register

RANGED_LAYERS: tuple[type, ...] = (
    keras.layers.Add, keras.layers.Subtract, keras.layers.Multiply, keras.layers.Average,
    keras.layers.Maximum, keras.layers.Minimum, keras.layers.Concatenate, keras.layers.Activation,
    keras.layers.ReLU, keras.layers.LeakyReLU, keras.layers.Softmax, keras.layers.GlobalAveragePooling1D, keras.layers.GlobalAveragePooling2D,
    keras.layers.GlobalMaxPooling1D, keras.layers.GlobalMaxPooling2D)
"""Weightless layers with an int8 TFLite kernel whose output needs a range of its own.

:func:`~kerasopt.compression.quantization.quantize_model` puts an :class:`ActivationQuantizer`
after each one whose inputs are all quantized, so the op runs in int8 instead of between
DEQUANTIZE and QUANTIZE."""


@register("layer")
class ActivationQuantizer(keras.layers.Layer):
    """Fake-quantize the tensor passing through to 256 levels over a learned range.

    The range is learned as :class:`~kerasopt.compression.quantization.QuantizeWrapper`
    learns its activation ranges: an exponential moving average of the batch ranges while
    `training=True` (the first batch's range replaces the initial [-6, 6]), the running
    min/max under :func:`~kerasopt.compression.quantization.calibrate_ranges`, frozen
    otherwise. The TFLite converter turns the FakeQuant op into the int8 scale and zero
    point of the op that produced the tensor (an ADD, a MEAN, a RELU...), so that op
    runs in int8: scale `(max - min) / 255`.

    Args:
        ema_decay: The decay of the range's moving average, in (0, 1). Defaults to `0.999`.
        **kwargs: Base layer arguments (`name`, ...).

    Example:
        >>> import numpy as np
        >>> layer = ActivationQuantizer()
        >>> y = layer(np.array([[-1.0, 0.5, 3.0]], "float32"), training=True)
        >>> float(layer.output_min.numpy()), float(layer.output_max.numpy())
        (-1.0, 3.0)
    """

    def __init__(self, ema_decay: float = 0.999, **kwargs: Any) -> None:
        if isinstance(ema_decay, bool) or not isinstance(ema_decay, (int, float)) or not 0 < ema_decay < 1:
            raise ValueError(f"`ema_decay` must be in (0, 1). Received: ema_decay={ema_decay!r}")
        super().__init__(**kwargs)
        self.ema_decay = ema_decay
        self.calibrating = False

    def build(self, input_shape: Any) -> None:
        """Create the range and observation-count variables."""
        for end, value in (("min", INITIAL_RANGE[0]), ("max", INITIAL_RANGE[1])):
            setattr(self, f"output_{end}", self.add_weight(
                name=f"output_{end}", shape=(), initializer=keras.initializers.Constant(value), trainable=False,
                dtype="float32"))
        self.observations = self.add_weight(name="observations", shape=(), initializer="zeros", trainable=False,
                                            dtype="float32")

    def call(self, inputs: Any, training: bool | None = None) -> Any:
        """Observe the range (training or calibrating), then fake-quantize `inputs` to it."""
        if bool(training) or self.calibrating:
            _fake_quant.observe(inputs, self.output_min, self.output_max, self.observations,
                                ema_decay=None if self.calibrating else self.ema_decay)
            self.observations.assign(self.observations + 1.0)
        return _fake_quant.quantize_activations(inputs, self.output_min, self.output_max)

    def compute_output_shape(self, input_shape: Any) -> Any:
        """The input shape."""
        return input_shape

    def get_config(self) -> dict[str, Any]:
        """The constructor arguments."""
        return {**super().get_config(), "ema_decay": self.ema_decay}
