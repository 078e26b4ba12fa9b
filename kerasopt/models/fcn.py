"""The `fcn` architecture: the Fully Convolutional Network for time series (Wang, Yan & Oates, 2017)."""

from __future__ import annotations

from typing import Any

from kerasopt.models import spec_checks
from kerasopt.models.layer_factory import LayerFactory

OPTIONS: dict[str, Any] = {"filters": [128, 256, 128], "kernel_size": [8, 5, 3]}
"""The options of `architecture: fcn` and their defaults (the paper's)."""


def fcn_features(x: Any, options: dict[str, Any], make: LayerFactory, input_shape: tuple[int, ...]) -> Any:
    """Build the FCN up to its head (the head is added by the caller).

    Wang, Yan & Oates, "Time Series Classification from Scratch with Deep Neural Networks:
    A Strong Baseline" (IJCNN 2017), Section 3.2, and the `fcn.py` of Fawaz et al.'s
    benchmark (dl-4-tsc, "Deep learning for time series classification: a review", 2019):
    three blocks `conv_i` of Conv1D ("same" padding, stride 1) -> batch normalization ->
    ReLU with 128, 256 and 128 filters and kernel sizes 8, 5 and 3, then global average
    pooling (`global_pool`) and the softmax head. No pooling between blocks, so the
    sequence length is kept until the global pooling and any length is accepted.

    Two details differ from the reference Keras code, neither in what the network can
    compute: the convolutions have no bias (the batch normalization's offset that
    follows replaces it, as in every kerasopt architecture; the reference has
    `sum(filters)` = 512 more parameters: 265,216 + 129 k here on one input channel and k
    classes against 265,728 + 129 k), and batch normalization uses momentum 0.9
    (kerasopt's default, see :class:`LayerFactory`) rather than Keras's 0.99.
    `normalization` defaults to `"batch"`; `activation` (ReLU), `dropout` (after the
    pooling) and the other common options apply as everywhere.

    Args:
        x: The input tensor (after the optional normalizer).
        options: The resolved options: `filters` (list of integers >= 1, one block
            each) and `kernel_size` (an integer, or one integer per block).
        make: The layer factory holding the common options.
        input_shape: `(steps, channels)`.

    Returns:
        The features tensor the head is applied to.

    Raises:
        ModelError: If an option is outside what is allowed.

    Example:
        ```python
        model = build_model({"architecture": "fcn"}, input_shape=(152, 1), num_classes=2)
        ```
    """
    filters = spec_checks.int_list("filters", options["filters"])
    kernel_sizes = spec_checks.int_or_list("kernel_size", options["kernel_size"], len(filters))
    for i, (width, size) in enumerate(zip(filters, kernel_sizes, strict=True), start=1):
        x = make.conv(x, 1, width, size, 1, f"conv_{i}")
    x = make.global_pool(x, 1)
    return make.drop(x, "features_dropout")
