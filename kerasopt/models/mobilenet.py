"""The `mobilenet` architecture: depthwise-separable convolutions (Howard et al., 2017)."""

from __future__ import annotations

from typing import Any

from kerasopt.models import spec_checks
from kerasopt.models.layer_factory import LayerFactory

OPTIONS: dict[str, Any] = {"alpha": 1.0, "filters": [32, 64, 128]}
"""The options of `architecture: mobilenet` and their defaults."""


def mobilenet_features(x: Any, options: dict[str, Any], make: LayerFactory,
                       input_shape: tuple[int, ...]) -> Any:
    """Build a small MobileNet up to its head (the head is added by the caller).

    After Howard et al., "MobileNets: Efficient Convolutional Neural Networks for Mobile
    Vision Applications" (2017): a full 3x3 convolution with stride 2 and `filters[0]`
    channels, then for each further entry of `filters` a depthwise-separable block
    (Section 3.1, Fig. 3): a 3x3 depthwise convolution -> norm -> activation, then a 1x1
    pointwise convolution -> norm -> activation. The first block keeps the resolution,
    every later one downsamples with a stride-2 depthwise convolution, which reproduces
    the first layers of Table 1 for the default `[32, 64, 128]`. The width multiplier
    `alpha` (Section 3.3) scales every channel count to `max(1, round(alpha * f))`.
    The network ends with global average pooling and dropout. DepthwiseConv1D and
    Conv1D are used for `(steps, channels)` inputs, the 2D layers for images. Layers are
    named `stem_conv`, `block{i}_depthwise`, `block{i}_pointwise`.

    Without a `normalization` option the MobileNet uses batch normalization, as in the
    paper.

    Args:
        x: The input tensor (after the optional normalizer).
        options: The resolved options: `alpha` (a number > 0) and `filters` (a non-empty
            list of integers >= 1).
        make: The layer factory holding the common options.
        input_shape: The model's input shape without the batch axis (2 or 3 axes).

    Returns:
        The features tensor the head is applied to.

    Raises:
        ModelError: If an option is outside what is allowed.

    Example:
        ```python
        spec = {"architecture": "mobilenet", "alpha": 0.5}
        model = build_model(spec, input_shape=(32, 32, 3), num_classes=10)
        ```
    """
    rank = len(input_shape) - 1
    alpha = spec_checks.positive_float("alpha", options["alpha"])
    filters = [max(1, round(alpha * f)) for f in spec_checks.int_list("filters", options["filters"])]
    x = make.conv(x, rank, filters[0], 3, 2, "stem_conv")
    for i, width in enumerate(filters[1:], start=1):
        x = make.depthwise(x, rank, 3, 1 if i == 1 else 2, f"block{i}_depthwise")
        x = make.conv(x, rank, width, 1, 1, f"block{i}_pointwise")
    x = make.global_pool(x, rank)
    return make.drop(x, "features_dropout")
