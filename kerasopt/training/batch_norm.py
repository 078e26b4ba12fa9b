"""Recompute batch-normalization moving statistics with one pass over data (for SWA)."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import keras
import numpy as np

from kerasopt._keras_compat import flatten_layers


def _batches(data: Any, batch_size: int) -> Iterator[Any]:
    """Yield input batches from arrays (sliced) or from an iterable of batches."""
    leaves = keras.tree.flatten(data) if isinstance(data, (dict, list, tuple)) else [data]
    arrays = bool(leaves) and all(hasattr(leaf, "shape") and hasattr(leaf, "__getitem__")
                                  and not isinstance(leaf, keras.utils.PyDataset)
                                  for leaf in leaves)
    if arrays:
        x = data[0] if isinstance(data, tuple) else data
        total = int(keras.tree.flatten(x)[0].shape[0])
        for start in range(0, total, batch_size):
            yield keras.tree.map_structure(lambda a, s=start: a[s:s + batch_size], x)
        return
    for element in data:
        x, _, _ = keras.utils.unpack_x_y_sample_weight(
            element if isinstance(element, tuple) else (element,)
        )
        yield x


def recompute_batch_norm_statistics(
    model: keras.Model,
    data: Any,
    steps: int | None = None,
    batch_size: int = 32,
) -> keras.Model:
    """Set every BatchNormalization layer's moving statistics to those of `data`.

    After `SWA.assign_average_vars`, the moving mean and variance of batch-norm layers
    belong to no set of weights the model holds (Izmailov et al. 2018, Section 3.2). This
    runs the model in training mode over `data` (one pass, or `steps` batches) and sets each
    layer's `moving_mean` and `moving_variance` to the mean and (biased, as Keras uses) variance
    of that layer's inputs over all the samples seen, per channel, pooling batches exactly
    (law of total variance; a batch counts by its number of samples). Layers' `momentum` is
    handled: it is set to 0 during the pass, so each batch's statistics can be read back,
    and restored afterwards. Layers deeper in the network see inputs normalized with batch
    statistics, as during training. Other layers run in training mode too (dropout is
    active), as in the paper's procedure. Batch renormalization and masks are not taken into
    account. Runs eagerly, on any backend.

    Args:
        model: The model whose batch-norm layers (nested ones included) to update.
        data: Inputs: an array, tensor, dict or list of arrays (sliced into batches of
            `batch_size`), a tuple `(x, y, ...)` of arrays (only `x` is used), or an
            iterable of batches (`tf.data.Dataset`, `keras.utils.PyDataset`, generator) whose
            elements are `x` or `(x, y[, sample_weight])`.
        steps: Number of batches to use, or None for all of `data`. Defaults to `None`.
        batch_size: Batch size when `data` holds arrays, an integer >= 1. Defaults to `32`.

    Returns:
        The model, updated in place.

    Raises:
        ValueError: If `steps` or `batch_size` is not a positive integer, or `data` is empty.

    Example:
        ```python
        swa.assign_average_vars(model.trainable_variables)
        recompute_batch_norm_statistics(model, x_train, batch_size=128)
        ```
    """
    if steps is not None and (isinstance(steps, bool) or not isinstance(steps, int) or steps < 1):
        raise ValueError(f"`steps` must be an integer >= 1 or None. Received: steps={steps!r}")
    if isinstance(batch_size, bool) or not isinstance(batch_size, int) or batch_size < 1:
        raise ValueError(f"`batch_size` must be an integer >= 1. Received: batch_size={batch_size!r}")
    layers = [layer for layer in flatten_layers(model, include_self=False)
              if isinstance(layer, keras.layers.BatchNormalization)]
    if not layers:
        return model
    momenta = [layer.momentum for layer in layers]
    count = 0
    sums = [0.0 for _ in layers]
    squares = [0.0 for _ in layers]
    try:
        for layer in layers:
            layer.momentum = 0.0
        for index, x in enumerate(_batches(data, batch_size)):
            if steps is not None and index >= steps:
                break
            size = int(keras.tree.flatten(x)[0].shape[0])
            model(x, training=True)
            count += size
            for i, layer in enumerate(layers):
                mean = np.asarray(keras.ops.convert_to_numpy(layer.moving_mean), np.float64)
                var = np.asarray(keras.ops.convert_to_numpy(layer.moving_variance), np.float64)
                sums[i] = sums[i] + size * mean
                squares[i] = squares[i] + size * (var + mean * mean)
    finally:
        for layer, momentum in zip(layers, momenta, strict=True):
            layer.momentum = momentum
    if count == 0:
        raise ValueError("`data` yielded no batches; cannot recompute batch-norm statistics.")
    for i, layer in enumerate(layers):
        mean = sums[i] / count
        layer.moving_mean.assign(mean.astype(layer.moving_mean.dtype))
        layer.moving_variance.assign(
            np.maximum(squares[i] / count - mean * mean, 0.0).astype(layer.moving_variance.dtype)
        )
    return model
