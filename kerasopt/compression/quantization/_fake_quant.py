"""The fake-quantization arithmetic shared by the QAT wrapper and range calibration.

Weights: symmetric, per output channel, narrow range. Each channel's range is
`[-m, m]` with `m = max|w|` over the channel (stop-gradient: the kernel gets the
straight-through gradient of the rounding only), quantized to the 255 levels
`[-127, 127] * m / 127`, the scheme TFLite's int8 specification requires for weights
(zero point 0).

Activations: asymmetric, per tensor, 256 levels over a learned `[min, max]` that always
contains 0 (so zero is exactly representable, as TFLite requires). During training the
range is an exponential moving average of the batch ranges (Jacob et al. 2018, section
3.1); the first observation replaces the initial range instead of being averaged with it.
"""

from __future__ import annotations

from typing import Any

import keras
from keras import ops

from kerasopt._replicas import max_over_replicas, min_over_replicas

_TINY = 1e-8  # an all-zero channel (pruned) gets this range instead of [0, 0]


def quantize_weights(kernel: Any, channel_axis: int) -> Any:
    """Fake-quantize `kernel` per channel along `channel_axis`, symmetric, narrow range."""
    axes = tuple(a for a in range(len(kernel.shape)) if a != channel_axis % len(kernel.shape))
    bound = ops.stop_gradient(ops.maximum(ops.max(ops.abs(kernel), axis=axes), _TINY))
    quantized = keras.quantizers.fake_quant_with_min_max_vars(
        kernel, -bound, bound, num_bits=8, narrow_range=True, axis=channel_axis)
    if keras.backend.backend() == "tensorflow":
        return quantized  # TensorFlow's FakeQuant op, which the TFLite converter recognizes
    # Every weight lies in [-bound, bound], so the straight-through gradient is the identity
    # (as TensorFlow's op gives). Keras's own gradient on other backends compares with a
    # range nudged in float arithmetic and can leave out the weight at +-bound: the largest
    # weight of every channel would never be trained.
    return kernel + ops.stop_gradient(quantized - kernel)


def quantize_activations(x: Any, low: Any, high: Any) -> Any:
    """Fake-quantize `x` per tensor to 256 levels over `[low, high]`."""
    return keras.quantizers.fake_quant_with_min_max_vars(x, low, high, num_bits=8, narrow_range=False)


def observe(x: Any, low: Any, high: Any, count: Any, *, ema_decay: float | None) -> None:
    """Update the range variables `low` and `high` from the batch `x`.

    With `ema_decay` set, the new range is `decay * old + (1 - decay) * batch`; with
    `ema_decay=None` (calibration) it is the running minimum and maximum. Either way
    the first observation (`count == 0`) takes the batch range as it is. The batch
    range is widened to contain 0. Under a distribution strategy the batch range is that
    of the global batch (the extremes over replicas), so every replica keeps the same range
    and it is the one-device range.

    Args:
        x: The activations of one batch.
        low: The range's lower-end variable.
        high: The range's upper-end variable.
        count: The number of earlier observations (a scalar tensor or variable).
        ema_decay: The moving-average decay, or None for a running min/max.
    """
    x = ops.stop_gradient(ops.cast(x, "float32"))
    batch_low = min_over_replicas(ops.minimum(ops.min(x), 0.0))
    batch_high = max_over_replicas(ops.maximum(ops.max(x), 0.0))
    first = ops.equal(count, 0)
    if ema_decay is None:
        new_low = ops.where(first, batch_low, ops.minimum(low, batch_low))
        new_high = ops.where(first, batch_high, ops.maximum(high, batch_high))
    else:
        weight = ops.where(first, 0.0, ema_decay)
        new_low = weight * low + (1.0 - weight) * batch_low
        new_high = weight * high + (1.0 - weight) * batch_high
    low.assign(new_low)
    high.assign(new_high)
