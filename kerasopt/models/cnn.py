"""The `cnn` architecture: a plain stack of Conv1D/Conv2D blocks, optional pooling and Dense layers."""

from __future__ import annotations

from typing import Any

import keras

from kerasopt.models import spec_checks
from kerasopt.models.layer_factory import LayerFactory

OPTIONS: dict[str, Any] = {
    "filters": [32, 64],
    "kernel_size": 3,
    "strides": 1,
    "pooling": "max",
    "global_pooling": False,
    "dense_units": [],
}
"""The options of `architecture: cnn` and their defaults."""

POOLINGS = ("max", "avg", "none")


def cnn_features(x: Any, options: dict[str, Any], make: LayerFactory, input_shape: tuple[int, ...]) -> Any:
    """Build a plain convolutional network up to its head (the head is added by the caller).

    Conv1D is used for `(steps, channels)` inputs and Conv2D for `(height, width,
    channels)` inputs. Each entry of `filters` becomes a block `conv_i`: convolution with
    "same" padding -> normalization -> activation -> pooling (window 2, `pool_i`, unless
    `pooling: none`). The feature maps are then flattened (or globally average-pooled
    with `global_pooling: true`), dropout is applied, and each entry of `dense_units`
    adds a Dense block `dense_i`.

    The MNIST-1D CNN (Greydanus 2020, `ConvBase` in the mnist1d repository: three Conv1d
    of 25 channels, kernels 5/3/3, stride 2, padding 1, a linear layer on the 125
    flattened features, 5,210 parameters) is `filters: [25, 25, 25], kernel_size:
    [5, 3, 3], strides: [2, 2, 2], pooling: none` on `(40, 1)` inputs: Keras's "same"
    padding gives the same lengths 20/10/5 as PyTorch's padding 1 here, so the
    parameter count is identical.

    Args:
        x: The input tensor (after the optional normalizer).
        options: The resolved options: `filters` (list of integers >= 1), `kernel_size`
            and `strides` (an integer or one integer per conv layer), `pooling`
            (`"max"`, `"avg"` or `"none"`), `global_pooling` (bool) and `dense_units`
            (list of integers >= 1, may be empty).
        make: The layer factory holding the common options.
        input_shape: The model's input shape without the batch axis (2 or 3 axes).

    Returns:
        The features tensor the head is applied to.

    Raises:
        ModelError: If an option is outside what is allowed.

    Example:
        ```python
        spec = {"architecture": "cnn", "filters": [25, 25, 25], "kernel_size": [5, 3, 3],
                "strides": [2, 2, 2], "pooling": "none"}
        model = build_model(spec, input_shape=(40, 1), num_classes=10)  # 5,210 parameters
        ```
    """
    rank = len(input_shape) - 1
    filters = spec_checks.int_list("filters", options["filters"])
    kernel_sizes = spec_checks.int_or_list("kernel_size", options["kernel_size"], len(filters))
    strides = spec_checks.int_or_list("strides", options["strides"], len(filters))
    pooling = spec_checks.choice("pooling", options["pooling"], POOLINGS)
    global_pooling = spec_checks.boolean("global_pooling", options["global_pooling"])
    dense_units = spec_checks.int_list("dense_units", options["dense_units"], allow_empty=True)
    for i, (width, size, stride) in enumerate(zip(filters, kernel_sizes, strides, strict=True), start=1):
        x = make.conv(x, rank, width, size, stride, f"conv_{i}")
        x = make.pool(x, rank, pooling, f"pool_{i}")
    if global_pooling:
        x = make.global_pool(x, rank)
    else:
        x = keras.layers.Flatten(name="flatten")(x)
    x = make.drop(x, "features_dropout")
    for i, width in enumerate(dense_units, start=1):
        x = make.dense_block(x, width, f"dense_{i}")
    return x
