"""The `resnet1d` architecture: the residual network for time series of Wang et al. / Fawaz et al."""

from __future__ import annotations

from typing import Any

import keras

from kerasopt.models import spec_checks
from kerasopt.models.layer_factory import LayerFactory
from kerasopt.models.stochastic_depth import drop_rates

OPTIONS: dict[str, Any] = {"filters": [64, 128, 128], "kernel_size": [8, 5, 3], "stochastic_depth": 0.0}
"""The options of `architecture: resnet1d` and their defaults (the paper's; no stochastic depth)."""


def resnet1d_features(x: Any, options: dict[str, Any], make: LayerFactory,
                      input_shape: tuple[int, ...]) -> Any:
    """Build the time-series ResNet up to its head (the head is added by the caller).

    Wang, Yan & Oates (IJCNN 2017), Section 3.3, as implemented in `resnet.py` of Fawaz et
    al.'s benchmark (dl-4-tsc, "Deep learning for time series classification: a review",
    Data Min. Knowl. Disc. 2019): one residual block `block{b}` per entry of `filters`
    (64, 128, 128). Each block has three Conv1D layers (`..._conv1/2/3`, "same" padding,
    stride 1) with kernel sizes 8, 5 and 3, each followed by batch normalization and,
    except the last, ReLU. The shortcut is a 1x1 convolution plus batch normalization
    (`..._proj`) where the number of channels changes, and batch normalization alone
    (`..._shortcut_bn`) where it does not (the reference code's third block; with
    `normalization: none` it is the identity). Shortcut and branch are added
    (`..._add`), then ReLU (`..._out`). Global average pooling and the softmax head
    follow. Convolutions before a batch normalization have no bias (the reference has
    one there, which the normalization's offset cancels: 1,152 more parameters with the
    default widths, 505,408 + 129 k parameters here on one input channel and k classes
    against 506,560 + 129 k), and batch normalization uses momentum 0.9 (kerasopt's
    default) rather than Keras's 0.99.

    `stochastic_depth: p` drops each block's branch (not its shortcut) per sample while
    training, with the linear rule of Huang et al. (2016): block b of B drops with
    probability `p * b / B`; see :class:`kerasopt.models.stochastic_depth.StochasticDepth`
    (inverted scaling, so inference is the plain network).

    Args:
        x: The input tensor (after the optional normalizer).
        options: The resolved options: `filters` (list of integers >= 1, one block each),
            `kernel_size` (an integer, or one per convolution of a block: three) and
            `stochastic_depth` (the last block's drop probability, in [0, 1)).
        make: The layer factory holding the common options.
        input_shape: `(steps, channels)`.

    Returns:
        The features tensor the head is applied to.

    Raises:
        ModelError: If an option is outside what is allowed.

    Example:
        ```python
        model = build_model({"architecture": "resnet1d", "stochastic_depth": 0.1},
                            input_shape=(152, 1), num_classes=2)
        ```
    """
    widths = spec_checks.int_list("filters", options["filters"])
    kernel_sizes = spec_checks.int_or_list("kernel_size", options["kernel_size"], 3)
    rates = drop_rates(options["stochastic_depth"], len(widths))
    for b, (width, rate) in enumerate(zip(widths, rates, strict=True), start=1):
        name = f"block{b}"
        y = x
        for c, size in enumerate(kernel_sizes, start=1):
            y = make.conv(y, 1, width, size, 1, f"{name}_conv{c}", activate=c < len(kernel_sizes))
        if x.shape[-1] != width:
            shortcut = make.conv(x, 1, width, 1, 1, f"{name}_proj", activate=False)
        else:
            shortcut = make.norm_act(x, f"{name}_shortcut", activate=False)
        y = make.drop_path(y, rate, f"{name}_drop_path")
        x = keras.layers.Add(name=f"{name}_add")([shortcut, y])
        x = keras.layers.Activation(make.activation, name=f"{name}_out")(x)
    x = make.global_pool(x, 1)
    return make.drop(x, "features_dropout")
