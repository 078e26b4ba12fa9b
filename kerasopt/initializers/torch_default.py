"""PyTorch's default initialization of `nn.Linear` and `nn.Conv1d/2d/3d`, for Keras layers."""

from __future__ import annotations

import math
from typing import Any

import keras

from kerasopt.registry import register


@register("initializer", aliases=["torch_default", "torch_kernel"])
class TorchDefault(keras.initializers.VarianceScaling):
    """PyTorch's default kernel initialization: kaiming-uniform with `a = sqrt(5)`.

    `torch.nn.Linear` and `torch.nn.Conv*d` call `kaiming_uniform_(weight, a=sqrt(5))`,
    i.e. `U(-b, b)` with `b = gain * sqrt(3 / fan_in)`, `gain = sqrt(2 / (1 + a^2))`, so
    `b = sqrt(6 / (6 * fan_in)) = 1 / sqrt(fan_in)` and the variance is `b^2 / 3 =
    1 / (3 * fan_in)`. That is Keras's `VarianceScaling(scale=1/3, mode="fan_in",
    distribution="uniform")`, whose fan-in of a Dense kernel `(in, out)` is `in` and of a
    Conv1D kernel `(kernel_size, in, out)` is `kernel_size * in`: the same as PyTorch's.
    Pair it with :class:`TorchDefaultBias` for the biases.

    Args:
        seed: Integer seed or `None` (Keras's global seed generator). Defaults to `None`.

    Example:
        ```python
        layer = keras.layers.Dense(10, kernel_initializer=TorchDefault(seed=0),
                                   bias_initializer=TorchDefaultBias(fan_in=125, seed=1))
        ```
    """

    def __init__(self, seed: int | None = None) -> None:
        super().__init__(scale=1.0 / 3.0, mode="fan_in", distribution="uniform", seed=seed)

    def get_config(self) -> dict[str, Any]:
        """Return the constructor arguments."""
        return {"seed": self.seed}


@register("initializer", aliases=["torch_default_bias", "torch_bias"])
class TorchDefaultBias(keras.initializers.RandomUniform):
    """PyTorch's default bias initialization: `U(-1/sqrt(fan_in), 1/sqrt(fan_in))`.

    The bound depends on the fan-in of the LAYER's kernel (`in_features` of a Dense layer,
    `kernel_size * in_channels` of a Conv1D layer), which a bias initializer cannot see
    from the bias shape, so it is an argument.

    Args:
        fan_in: The layer's kernel fan-in, a positive integer.
        seed: Integer seed or `None` (Keras's global seed generator). Defaults to `None`.

    Raises:
        ValueError: If `fan_in` is not a positive integer.

    Example:
        ```python
        conv = keras.layers.Conv1D(25, 3, kernel_initializer="torch_default",
                                   bias_initializer=TorchDefaultBias(fan_in=3 * 25))
        ```
    """

    def __init__(self, fan_in: int, seed: int | None = None) -> None:
        if isinstance(fan_in, bool) or not isinstance(fan_in, int) or fan_in < 1:
            raise ValueError(f"`fan_in` must be a positive integer (the layer's kernel fan-in: in_features, "
                             f"or kernel_size * in_channels). Received: fan_in={fan_in!r}")
        self.fan_in = fan_in
        bound = 1.0 / math.sqrt(fan_in)
        super().__init__(minval=-bound, maxval=bound, seed=seed)

    def get_config(self) -> dict[str, Any]:
        """Return the constructor arguments."""
        return {"fan_in": self.fan_in, "seed": self.seed}
