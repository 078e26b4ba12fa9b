"""Delta-orthogonal kernel initializer (Xiao et al., 2018)."""

from __future__ import annotations

from typing import Any

import keras
from keras import ops

from kerasopt.registry import register


@register("initializer", aliases=["delta_orthogonal"])
class DeltaOrthogonal(keras.initializers.Initializer):
    """Orthogonal at the kernel's spatial centre, zero elsewhere.

    Xiao, Bahri, Sohl-Dickstein, Schoenholz & Pennington (2018), "Dynamical Isometry and a
    Mean Field Theory of CNNs: How to Train 10,000-Layer Vanilla Convolutional Neural
    Networks", Algorithm 2: a convolution kernel of shape `(*spatial, c_in, c_out)` gets
    `W[centre] = gain * H` with `H` a `c_in x c_out` matrix with orthonormal rows (drawn
    like `keras.initializers.Orthogonal`) and zeros at every other spatial position, so at
    initialization the convolution is an orthogonal map of the channels at each position
    (dynamical isometry). The centre is index `k // 2` along each spatial axis. A 2-D
    kernel (Dense) gets the plain orthogonal matrix.

    Args:
        gain: Multiplicative factor on the orthogonal matrix (the paper's `sigma_w`;
            use `sqrt(2)` before ReLU). Defaults to `1.0`.
        seed: Integer seed or `None` (a random draw per call). Defaults to `None`.

    Raises:
        ValueError: If `gain` is not a positive number, or (at call time) the shape has
            fewer than 2 dimensions or more input than output channels (the paper needs
            `c_in <= c_out` for the rows to be orthonormal).

    Example:
        ```python
        layer = keras.layers.Conv2D(64, 3, kernel_initializer=DeltaOrthogonal(gain=2**0.5))
        ```
    """

    def __init__(self, gain: float = 1.0, seed: int | None = None) -> None:
        if isinstance(gain, bool) or not isinstance(gain, (int, float)) or not gain > 0:
            raise ValueError(f"`gain` must be a number > 0. Received: gain={gain!r}")
        if seed is not None and (isinstance(seed, bool) or not isinstance(seed, int)):
            raise ValueError(f"`seed` must be an integer or None. Received: seed={seed!r}")
        self.gain = gain
        self.seed = seed

    def __call__(self, shape: tuple[int, ...], dtype: Any = None) -> Any:
        """Return a kernel of `shape` (`(*spatial, c_in, c_out)`)."""
        shape = tuple(int(s) for s in shape)
        if len(shape) < 2:
            raise ValueError(
                "DeltaOrthogonal needs a kernel shape with at least 2 dimensions "
                f"(*spatial, c_in, c_out). Received: shape={shape}"
            )
        c_in, c_out = shape[-2], shape[-1]
        if c_in > c_out:
            raise ValueError(
                "DeltaOrthogonal needs c_in <= c_out (Xiao et al. 2018, Algorithm 2). "
                f"Received: shape={shape} (c_in={c_in}, c_out={c_out})"
            )
        dtype = dtype or keras.config.floatx()
        h = keras.initializers.Orthogonal(gain=self.gain, seed=self.seed)((c_in, c_out), dtype)
        spatial = shape[:-2]
        if not spatial:
            return h
        centre = ops.ones((1,) * len(spatial), dtype=dtype)
        centre = ops.pad(centre, [(k // 2, k - k // 2 - 1) for k in spatial])
        return ops.reshape(centre, (*spatial, 1, 1)) * h

    def get_config(self) -> dict[str, Any]:
        """Return the constructor arguments."""
        return {"gain": self.gain, "seed": self.seed}
