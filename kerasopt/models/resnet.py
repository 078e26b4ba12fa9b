"""The `resnet` architecture: a small residual network of basic blocks (He et al., 2016)."""

from __future__ import annotations

from typing import Any

import keras

from kerasopt.models import spec_checks
from kerasopt.models.layer_factory import LayerFactory

OPTIONS: dict[str, Any] = {"filters": 16, "blocks_per_stage": [2, 2, 2]}
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
    `stage{s}_block{b}_conv1`, `..._conv2`, `..._proj`, `..._add`, `..._out`.

    Without a `normalization` option the ResNet uses batch normalization, as in the paper.

    Args:
        x: The input tensor (after the optional normalizer).
        options: The resolved options: `filters` (an integer >= 1, channels of the first
            stage) and `blocks_per_stage` (a non-empty list of integers >= 1).
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
    x = make.conv(x, rank, base, 3, 1, "stem_conv")
    for s, blocks in enumerate(stages):
        width = base * 2**s
        for b in range(blocks):
            stride = 2 if s > 0 and b == 0 else 1
            name = f"stage{s + 1}_block{b + 1}"
            y = make.conv(x, rank, width, 3, stride, f"{name}_conv1")
            y = make.conv(y, rank, width, 3, 1, f"{name}_conv2", activate=False)
            shortcut = x
            if stride != 1 or x.shape[-1] != width:
                shortcut = make.conv(x, rank, width, 1, stride, f"{name}_proj", activate=False)
            x = keras.layers.Add(name=f"{name}_add")([shortcut, y])
            x = keras.layers.Activation(make.activation, name=f"{name}_out")(x)
    x = make.global_pool(x, rank)
    return make.drop(x, "features_dropout")
