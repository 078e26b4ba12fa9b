"""Stochastic depth (Huang et al., 2016): drop a residual branch per sample while training."""

from __future__ import annotations

from typing import Any

import keras

from kerasopt.models.errors import ModelError
from kerasopt.registry import register


@register("layer")
class StochasticDepth(keras.layers.Layer):
    """Drops its input (a residual branch) per sample with probability `rate` while training.

    Huang et al., "Deep Networks with Stochastic Depth" (ECCV 2016) drop whole residual
    branches at random during training, so a block's output is its shortcut alone, and
    use the full network at test time. This layer sits on the branch, before the
    addition. Two formulations differ in where the survival probability `1 - rate` goes;
    this layer uses the *inverted* one (as timm's `DropPath` and Keras's ConvNeXt do):

    - training: `y = x * m / (1 - rate)` with `m ~ Bernoulli(1 - rate)` drawn once per
      sample (the paper draws once per mini-batch; per sample gives the same expectation
      and less variance), so `E[y] = x`;
    - inference: `y = x`, the identity. The paper instead scales the branch by `1 - rate`
      at test time; scaling by `1 / (1 - rate)` while training gives the same expected
      sum and keeps inference free of any stochastic-depth arithmetic, so a model with
      this layer computes, at inference and in every export, exactly what the same
      weights compute without it.

    Args:
        rate: Drop probability in [0, 1). Defaults to `0.0` (the identity).
        seed: Seed of the layer's random generator. Defaults to `None`.
        **kwargs: Keras layer arguments (`name`, ...).

    Raises:
        ModelError: If `rate` is not a number in [0, 1).

    Example:
        >>> import numpy as np
        >>> layer = StochasticDepth(0.5, seed=0)
        >>> x = np.ones((4, 3), "float32")
        >>> bool(np.all(np.asarray(layer(x, training=False)) == x))
        True
        >>> sorted({float(v) for v in np.ravel(layer(x, training=True))} - {0.0, 2.0})
        []
    """

    def __init__(self, rate: float = 0.0, seed: int | None = None, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        if isinstance(rate, bool) or not isinstance(rate, (int, float)) or not 0 <= rate < 1:
            raise ModelError(f"`model.stochastic_depth` (a StochasticDepth rate) must be a number in [0, 1). "
                             f"Received: rate={rate!r}")
        self.rate = float(rate)
        self.seed = seed
        self.seed_generator = keras.random.SeedGenerator(seed)
        self.supports_masking = True

    def call(self, inputs: Any, training: bool | None = None) -> Any:
        """Return `inputs` at inference; per-sample dropped and rescaled inputs while training."""
        if not training or self.rate == 0:
            return inputs
        keep = 1.0 - self.rate
        shape = (keras.ops.shape(inputs)[0],) + (1,) * (len(inputs.shape) - 1)
        noise = keras.random.uniform(shape, seed=self.seed_generator, dtype=inputs.dtype)
        mask = keras.ops.cast(noise < keep, inputs.dtype)
        return inputs * mask / keep

    def compute_output_shape(self, input_shape: tuple[Any, ...]) -> tuple[Any, ...]:
        """The output has the input's shape."""
        return input_shape

    def get_config(self) -> dict[str, Any]:
        """Return the constructor arguments (with the Keras layer arguments)."""
        return {**super().get_config(), "rate": self.rate, "seed": self.seed}


def drop_rates(rate: Any, blocks: int) -> list[float]:
    """The linear decay rule of Huang et al. (Eq. 4): block l of L drops with `rate * l / L`.

    Args:
        rate: The drop probability of the last block, in [0, 1).
        blocks: The number of residual blocks, >= 1.

    Returns:
        One drop probability per block, from `rate / blocks` up to `rate`.

    Raises:
        ModelError: If `rate` is not a number in [0, 1).

    Example:
        >>> drop_rates(0.2, 4)
        [0.05, 0.1, 0.15, 0.2]
    """
    if isinstance(rate, bool) or not isinstance(rate, (int, float)) or not 0 <= rate < 1:
        raise ModelError(f"`model.stochastic_depth` must be a number in [0, 1) (the last block's drop "
                         f"probability). Received: stochastic_depth={rate!r}")
    return [round(rate * (b + 1) / blocks, 12) for b in range(blocks)]

