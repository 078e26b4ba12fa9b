"""Set a quantization-aware model's activation ranges from data, without training."""

from __future__ import annotations

from typing import Any

import keras
import numpy as np

from kerasopt.compression.quantization.activation_quantizer import ActivationQuantizer
from kerasopt.compression.quantization.quantize_wrapper import QuantizeWrapper


def quantize_wrappers(model: keras.Model) -> list[QuantizeWrapper]:
    """Every :class:`QuantizeWrapper` in `model`, nested models included, in layer order."""
    found: list[QuantizeWrapper] = []
    for layer in model.layers:
        if isinstance(layer, QuantizeWrapper):
            found.append(layer)
        elif isinstance(layer, keras.Model):
            found.extend(quantize_wrappers(layer))
    return found


def range_layers(model: keras.Model) -> list[QuantizeWrapper | ActivationQuantizer]:
    """Every layer holding int8 activation ranges: wrappers and ActivationQuantizers, nested ones included."""
    found: list[QuantizeWrapper | ActivationQuantizer] = []
    for layer in model.layers:
        if isinstance(layer, (QuantizeWrapper, ActivationQuantizer)):
            found.append(layer)
        elif isinstance(layer, keras.Model):
            found.extend(range_layers(layer))
    return found


def calibrate_ranges(model: keras.Model, samples: Any, *, batch_size: int = 32) -> int:
    """Set every activation range of `model` to the min and max it reaches on `samples`.

    Post-training quantization through kerasopt's own fake quantization: the model
    runs in inference mode on `samples`, batch by batch, and each range becomes the
    running minimum and maximum (widened to contain 0) of what it sees, upstream
    layers already fake-quantized, the same min/max calibration TFLite's converter
    performs. The :class:`ActivationQuantizer` layers between wrappers (after an `Add`,
    a ReLU, a pooling) are calibrated the same way. Earlier ranges are discarded. Later QAT training continues from these
    ranges with its moving averages.

    Args:
        model: A model with :class:`QuantizeWrapper` layers (see :func:`quantize_model`).
        samples: Input samples, first axis = samples (a NumPy array or a tensor).
        batch_size: Samples per forward pass, >= 1. Defaults to `32`.

    Returns:
        The number of wrappers calibrated (the ActivationQuantizers are not counted).

    Raises:
        ValueError: If `model` has no wrappers, `samples` is empty or `batch_size` is bad.

    Example:
        >>> model = keras.Sequential([keras.Input((2,)), keras.layers.Dense(2)])
        >>> from kerasopt.compression.quantization import quantize_model
        >>> qat = quantize_model(model)
        >>> calibrate_ranges(qat, np.array([[-1.0, 0.5], [2.0, 3.0]], "float32"))
        1
        >>> float(qat.layers[0].input_min.numpy()), float(qat.layers[0].input_max.numpy())
        (-1.0, 3.0)
    """
    if isinstance(batch_size, bool) or not isinstance(batch_size, int) or batch_size < 1:
        raise ValueError(f"`batch_size` must be an integer >= 1. Received: batch_size={batch_size!r}")
    wrappers = quantize_wrappers(model)
    if not wrappers:
        raise ValueError(f"Model {model.name!r} has no QuantizeWrapper layers to calibrate; "
                         "wrap it with quantize_model first.")
    samples = np.asarray(samples, dtype="float32")
    if samples.ndim == 0 or len(samples) == 0:
        raise ValueError(f"`samples` must hold at least one sample. Received: shape {samples.shape}")
    ranged = range_layers(model)
    for layer in ranged:
        layer.observations.assign(0.0)
        layer.calibrating = True
    try:
        for start in range(0, len(samples), batch_size):
            model(samples[start:start + batch_size], training=False)  # eager: reads `calibrating`
    finally:
        for layer in ranged:
            layer.calibrating = False
    return len(wrappers)
