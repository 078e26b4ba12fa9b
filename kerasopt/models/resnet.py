"""The `resnet` architecture: a small residual network of basic blocks (He et al., 2016)."""

from __future__ import annotations

from typing import Any

import keras

from kerasopt.models import spec_checks
from kerasopt.models.layer_factory import LayerFactory
from kerasopt.models.stochastic_depth import drop_rates

OPTIONS: dict[str, Any] = {"filters": 16, "blocks_per_stage": [2, 2, 2], "kernel_size": 3, "stochastic_depth": 0.0}
"""The options of `architecture: resnet` and their defaults."""


def resnet_features(x: Any, options: dict[str, Any], make: LayerFactory, input_shape: tuple[int, ...]) -> Any:
    """Build a small ResNet up to its head (the head is added by the caller).

    The layout follows the CIFAR-10 networks of He et al., "Deep Residual Learning for
    Image Recognition" (CVPR 2016), Section 4.2: a 3x3 stem convolution with `filters`
    channels, then one stage per entry of `blocks_per_stage`; stage s (from 0) has
    `filters * 2**s` channels and its first block halves the spatial size with stride 2.
    Each basic block is conv3x3 -> norm -> activation -> conv3x3 -> norm, added to the
    shortcut, then the activation (the original post-activation form, Fig. 2). Where the
    shape changes the shortcut is a 1x1 projection convolution (option B, Section 3.3)
    rather than the zero-padding option A the paper uses on CIFAR. The network ends with
    global average pooling and dropout. Conv1D is used for `(steps, channels)` inputs,
    Conv2D for `(height, width, channels)`. Layers are named `stem_conv`,
    `stage{s}_block{b}_conv1`, `..._conv2`, `..._proj`, `..._drop_path`, `..._add`, `..._out`.

    Without a `normalization` option the ResNet uses batch normalization, as in the paper.
    `kernel_size` (3 in the paper) sets the width of the stem's and the blocks'
    convolutions; the projections stay 1x1. For time series, wider kernels (e.g. 7 or 8)
    see more of the sequence per layer; see also `architecture: resnet1d`.

    `stochastic_depth: p` drops each basic block's branch (never the shortcut) per sample
    while training, with the linear rule of Huang et al., "Deep Networks with Stochastic
    Depth" (ECCV 2016), Eq. 4: block l of L (counted over all stages) drops with
    probability `p * l / L`. The layer (`..._drop_path`,
    :class:`kerasopt.models.stochastic_depth.StochasticDepth`) scales kept branches by
    `1 / (1 - p_l)` while training and is the identity at inference.

    Args:
        x: The input tensor (after the optional normalizer).
        options: The resolved options: `filters` (an integer >= 1, channels of the first
            stage), `blocks_per_stage` (a non-empty list of integers >= 1), `kernel_size`
            (an integer >= 1) and `stochastic_depth` (the last block's drop probability,
            in [0, 1)).
        make: The layer factory holding the common options.
        input_shape: The model's input shape without the batch axis (2 or 3 axes).

    Returns:
        The features tensor the head is applied to.

    Raises:
        ModelError: If an option is outside what is allowed.

    Example:
        ```python
        spec = {"architecture": "resnet", "filters": 8, "blocks_per_stage": [1, 1]}
        model = build_model(spec, input_shape=(32, 32, 3), num_classes=10)
        ```
    """
    rank = len(input_shape) - 1
    base = spec_checks.positive_int("filters", options["filters"])
    stages = spec_checks.int_list("blocks_per_stage", options["blocks_per_stage"])
    size = spec_checks.positive_int("kernel_size", options["kernel_size"])
    rates = iter(drop_rates(options["stochastic_depth"], sum(stages)))
    x = make.conv(x, rank, base, size, 1, "stem_conv")
    for s, blocks in enumerate(stages):
        width = base * 2**s
        for b in range(blocks):
            stride = 2 if s > 0 and b == 0 else 1
            name = f"stage{s + 1}_block{b + 1}"
            y = make.conv(x, rank, width, size, stride, f"{name}_conv1")
            y = make.conv(y, rank, width, size, 1, f"{name}_conv2", activate=False)
            y = make.drop_path(y, next(rates), f"{name}_drop_path")
            shortcut = x
            if stride != 1 or x.shape[-1] != width:
                shortcut = make.conv(x, rank, width, 1, stride, f"{name}_proj", activate=False)
            x = keras.layers.Add(name=f"{name}_add")([shortcut, y])
            x = keras.layers.Activation(make.activation, name=f"{name}_out")(x)
    x = make.global_pool(x, rank)
    return make.drop(x, "features_dropout")
