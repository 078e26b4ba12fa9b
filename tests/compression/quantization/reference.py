"""NumPy re-derivations of TFLite's fake quantization (FakeQuantWithMinMaxVars, TF's nudging)."""

import numpy as np


def fake_quant(x, low, high, *, narrow_range=False):
    """TF's FakeQuantWithMinMaxVars: nudge the range so 0 is a level, clamp, round half up."""
    quant_min, quant_max = (1 if narrow_range else 0), 255
    scale = (high - low) / (quant_max - quant_min)
    zero_point = np.clip(np.floor(quant_min - low / scale + 0.5), quant_min, quant_max)
    nudged_low, nudged_high = (quant_min - zero_point) * scale, (quant_max - zero_point) * scale
    clamped = np.clip(x, nudged_low, nudged_high)
    return np.floor((clamped - nudged_low) / scale + 0.5) * scale + nudged_low


def quantize_weights(kernel):
    """Symmetric per-output-channel (last axis) int8 in [-127, 127]: scale = max|w| / 127."""
    bound = np.abs(kernel).reshape(-1, kernel.shape[-1]).max(axis=0)
    scale = bound / 127.0
    return np.clip(np.floor(kernel / scale + 0.5), -127, 127) * scale


def ema_ranges(batches, decay):
    """The moving-average range: the first batch's range, then decay * old + (1 - decay) * new."""
    low = high = None
    for batch in batches:
        b_low, b_high = min(batch.min(), 0.0), max(batch.max(), 0.0)
        if low is None:
            low, high = b_low, b_high
        else:
            low, high = decay * low + (1 - decay) * b_low, decay * high + (1 - decay) * b_high
    return low, high
