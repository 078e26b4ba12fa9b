"""The input normalizer, fitted on the training split and placed first in the model."""

from __future__ import annotations

from typing import Any

import numpy as np

from kerasopt.data.errors import DataError

NORMALIZATIONS = ("none", "minmax", "standardize")


def fit_normalizer(x_train: np.ndarray, method: str = "none", padding_value: float | None = None) -> Any:
    """Fit a `keras.layers.Normalization` layer on the training inputs.

    Normalization lives in the model, not in the data pipeline: the datasets carry raw
    inputs, and the model (and the TFLite file exported from it) takes raw inputs too.
    Statistics are taken per feature for flat inputs `(features,)` and per channel
    (over all samples and positions) for sequences `(steps, c)` and images
    `(h, w, c)`. `"standardize"` gives `(x - mean) / std`; `"minmax"` gives
    `(x - min) / (max - min)`, written as a Normalization layer with `mean=min` and
    `variance=(max - min)**2` so one serializable layer type covers both. A feature
    that is constant on the training split (std or range 0, e.g. always-blank pixels)
    gets a divisor of 1, so it maps to 0 instead of being divided by epsilon.
    Statistics are computed in float64 and stored in the layer's config, so the layer
    round-trips through `.keras` files with `safe_mode=True`.

    Args:
        x_train: The training inputs, `(samples, *input_shape)`.
        method: "none", "minmax" or "standardize". Defaults to `"none"`.
        padding_value: For padded sequences `(samples, steps, features)`: steps whose every
            feature equals it are padding and left out of the statistics (as the model's
            mask leaves them out). Defaults to `None` (every step counts).

    Returns:
        A built `keras.layers.Normalization` named "normalizer", or `None` for "none".

    Raises:
        DataError: If `method` is not one of the allowed values.
    """
    if method not in NORMALIZATIONS:
        raise DataError(f"`normalization` must be one of {', '.join(NORMALIZATIONS)}. "
                        f"Received: normalization={method!r}.")
    if method == "none":
        return None
    values = np.asarray(x_train, dtype=np.float64).reshape(-1, x_train.shape[-1])
    if padding_value is not None:
        real = values[~(values == padding_value).all(axis=1)]
        values = real if len(real) else values
    if method == "standardize":
        center = values.mean(axis=0)
        scale = values.std(axis=0)
    else:
        center = values.min(axis=0)
        scale = values.max(axis=0) - center
    return normalizer_layer(center, scale, tuple(x_train.shape[1:]))


def normalizer_layer(center: np.ndarray, scale: np.ndarray, input_shape: tuple[int, ...]) -> Any:
    """The built `Normalization` layer computing `(x - center) / scale` per channel (scale 0 -> 1).

    Args:
        center: Per-channel center (mean, or minimum for "minmax").
        scale: Per-channel scale (standard deviation, or range for "minmax").
        input_shape: The shape of one input.

    Returns:
        A built `keras.layers.Normalization` named "normalizer".
    """
    import keras

    scale = np.where(scale > 0, scale, 1.0)
    layer = keras.layers.Normalization(axis=-1, mean=np.asarray(center).astype(np.float32),
                                       variance=(scale**2).astype(np.float32), name="normalizer")
    layer.build((None, *input_shape))
    return layer
