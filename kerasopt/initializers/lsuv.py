"""Layer-sequential unit-variance (LSUV) initialization (Mishkin & Matas, 2015).

The public entry point is :func:`lsuv_initialize`, applied to a built model with a batch
of training data. :class:`LSUV` is the registered initializer that lets a recipe say
`initializer: lsuv`: used as a `kernel_initializer` it draws the orthonormal kernels of
step 1; the recipe runner then calls `lsuv_initialize(model, batch, **LSUV.get_config())`
minus the seed.
"""

from __future__ import annotations

import math
from typing import Any

import keras
from keras import ops

from kerasopt.registry import register

_KERNEL_LAYERS = (keras.layers.Dense, keras.layers.Conv1D, keras.layers.Conv2D,
                  keras.layers.Conv3D)


def _check(tol_var: Any, max_iter: Any) -> None:
    if isinstance(tol_var, bool) or not isinstance(tol_var, (int, float)) or not 0 < tol_var < 1:
        raise ValueError(f"`tol_var` must be a number in (0, 1). Received: tol_var={tol_var!r}")
    if isinstance(max_iter, bool) or not isinstance(max_iter, int) or max_iter < 1:
        raise ValueError(f"`max_iter` must be an integer >= 1. Received: max_iter={max_iter!r}")


def _orthonormal(shape: tuple[int, ...], dtype: Any, seed: Any) -> Any:
    """Kernel of `shape` whose `(prod(shape[:-1]), c_out)` matrix has orthonormal columns
    (or rows, when it is wide): the Saxe et al. (2014) init of LSUV step 1."""
    rows = math.prod(shape[:-1])
    flat = keras.initializers.Orthogonal(seed=seed)((rows, shape[-1]), dtype)
    return ops.reshape(flat, shape)


def lsuv_initialize(model: keras.Model, x_batch: Any, tol_var: float = 0.1, max_iter: int = 10,
                    orthonormal: bool = True, seed: int | None = None) -> keras.Model:
    """Initialize `model` in place by LSUV (Mishkin & Matas 2015, Algorithm 1).

    Step 1 replaces every kernel of a Dense/Conv1D/Conv2D/Conv3D layer by an orthonormal
    matrix (the kernel reshaped to `(prod(kernel_size) * c_in, c_out)`). Step 2 walks those
    layers in forward order; for each it measures the variance of the layer's output
    *before its activation* on `x_batch` (the paper scales the convolution output, ahead of
    the separate ReLU layer in Caffe) and divides the kernel by the standard deviation until
    `|var - 1| < tol_var` or `max_iter` rounds. Biases are left as they are. Only the
    model's own (top-level) layers are visited; layers nested in a sub-model are not.

    Args:
        model: A built functional or Sequential Keras model.
        x_batch: A batch of training inputs (a few hundred samples is typical).
        tol_var: Tolerance on the output variance, `0 < tol_var < 1`. Defaults to `0.1`.
        max_iter: Rescaling rounds per layer. Defaults to `10`.
        orthonormal: Do step 1; `False` keeps the current kernels (LSUV on top of any
            init). Defaults to `True`.
        seed: Seed of the orthonormal draws. Defaults to `None`.

    Returns:
        The same model, with its kernels rescaled.

    Raises:
        TypeError: If `model` is not a Keras 3 `keras.Model`.
        ValueError: If `tol_var` or `max_iter` is out of range, or the model has no
            Dense/Conv layer.

    Example:
        ```python
        model = keras.Sequential([keras.Input((64,)), keras.layers.Dense(100, "relu"), ...])
        lsuv_initialize(model, x_train[:256])
        ```
    """
    _check(tol_var, max_iter)
    if not isinstance(model, keras.Model):
        raise TypeError(
            "`model` must be a Keras 3 `keras.Model`. Received an object of type "
            f"{type(model).__module__}.{type(model).__qualname__}"
        )
    if not model.built:
        model(x_batch)
    layers = [layer for layer in model.layers if isinstance(layer, _KERNEL_LAYERS)]
    if not layers:
        raise ValueError(f"LSUV found no Dense or Conv layer in model {model.name!r}.")
    generator = keras.random.SeedGenerator(seed) if seed is not None else None
    inputs = model.inputs[0] if len(model.inputs) == 1 else model.inputs
    for layer in layers:
        if orthonormal:
            layer.kernel.assign(_orthonormal(tuple(layer.kernel.shape), layer.kernel.dtype,
                                             generator))
        probe = keras.Model(inputs, layer.output)
        activation, layer.activation = layer.activation, keras.activations.linear
        try:
            for _ in range(max_iter):
                variance = float(ops.var(probe(x_batch, training=False)))
                if abs(variance - 1.0) < tol_var or variance == 0.0:
                    break
                layer.kernel.assign(layer.kernel / math.sqrt(variance))
        finally:
            layer.activation = activation
    return model


@register("initializer", aliases=["lsuv"])
class LSUV(keras.initializers.Initializer):
    """LSUV marker initializer: orthonormal kernels now, unit variance once data is seen.

    As a `kernel_initializer` it draws the orthonormal kernel of LSUV step 1 (Mishkin &
    Matas 2015, Algorithm 1). The data-dependent step 2 needs a batch: call
    :func:`lsuv_initialize` on the built model (the recipe runner does so for
    `initializer: lsuv`, passing `tol_var` and `max_iter` from this object's config).

    Args:
        tol_var: Tolerance on each layer's output variance. Defaults to `0.1`.
        max_iter: Rescaling rounds per layer. Defaults to `10`.
        seed: Seed of the orthonormal draw. Defaults to `None`.

    Raises:
        ValueError: If an argument is out of range.

    Example:
        ```python
        layer = keras.layers.Dense(64, kernel_initializer=LSUV())
        ```
    """

    def __init__(self, tol_var: float = 0.1, max_iter: int = 10, seed: int | None = None) -> None:
        _check(tol_var, max_iter)
        if seed is not None and (isinstance(seed, bool) or not isinstance(seed, int)):
            raise ValueError(f"`seed` must be an integer or None. Received: seed={seed!r}")
        self.tol_var = tol_var
        self.max_iter = max_iter
        self.seed = seed

    def __call__(self, shape: tuple[int, ...], dtype: Any = None) -> Any:
        """Return an orthonormal kernel of `shape`."""
        return _orthonormal(tuple(int(s) for s in shape), dtype or keras.config.floatx(), self.seed)

    def get_config(self) -> dict[str, Any]:
        """Return the constructor arguments."""
        return {"tol_var": self.tol_var, "max_iter": self.max_iter, "seed": self.seed}
