"""An exponential moving average (EMA) of the weights, on Keras's own `use_ema` machinery."""

from __future__ import annotations

import numbers
from typing import Any

import keras

from kerasopt._keras_compat import schedule_ema


def ema_momentum(step: Any, decay: float, start: int = 0, every: int = 1) -> Any:
    """The weight the old average keeps at the update of 0-based `step`.

    `0` while `step < max(start, 1)` (the average tracks the weights: Keras's own first
    step, and every step before `start`), then `decay` on every `every`-th step counted
    from `start`, and `1` (the average kept as it is) on the steps between.

    Example:
        >>> [round(float(ema_momentum(s, 0.9, start=2, every=2)), 6) for s in range(6)]
        [0.0, 0.0, 0.9, 1.0, 0.9, 1.0]
    """
    ops = keras.ops
    step = ops.cast(step, "int64")
    on_period = ops.equal(ops.mod(step - start, every), 0)
    averaging = ops.where(on_period, ops.cast(decay, "float32"), ops.cast(1.0, "float32"))
    return ops.where(ops.less(step, max(start, 1)), ops.cast(0.0, "float32"), averaging)


def enable_ema(optimizer: keras.optimizers.Optimizer, decay: float = 0.999, start: int = 0,
               every: int = 1) -> keras.optimizers.Optimizer:
    """Make `optimizer` keep an exponential moving average of the weights it trains.

    Builds on Keras's `use_ema`: the averages are optimizer variables (saved and loaded
    with the optimizer, in weight files and `.keras` files, mirrored under `tf.distribute`),
    `fit` copies them into the model when it ends (`finalize_variable_values`), and
    `keras.callbacks.SwapEMAWeights()` evaluates them during `fit`'s validation. After the
    update of step `t` (1-based; weights `w_t`), with `m_t = ema_momentum(t - 1, ...)`:

        ema_t = m_t * ema_{t-1} + (1 - m_t) * w_t

    so `ema_t = w_t` for `t <= max(start, 1)` (Keras sets the average to the weights at the
    first step), then every `every`-th step mixes in `1 - decay` of the weights, as Keras's
    `ema_momentum` does. Only trainable weights are averaged: batch-normalization moving
    statistics stay the layers' own running averages, collected under the raw weights.

    A `.keras` file keeps the averages, `use_ema` and `ema_momentum` (Keras's optimizer
    config) but not `start` and `every`: a loaded optimizer would mix in the weights on
    every step. Call `enable_ema` on the loaded model's optimizer with the same arguments
    (a built optimizer that already averages is accepted for that) before training on.

    Args:
        optimizer: A Keras optimizer not built yet, or a kerasopt wrapper around one (the
            average is then kept by its inner optimizer). An optimizer that averages weights
            itself (`SWA`) is refused: two averages would compete for the model's weights.
        decay: The average's momentum, in (0, 1). Defaults to `0.999`.
        start: Steps before averaging starts (the average equals the weights until then),
            an integer >= 0. Defaults to `0`.
        every: Mix the weights into the average every this many steps, an integer >= 1.
            Defaults to `1`.

    Returns:
        `optimizer`, changed in place.

    Raises:
        ValueError: An argument out of range, an optimizer already built without an
            average, or one that averages weights itself.

    Example:
        >>> opt = enable_ema(keras.optimizers.SGD(0.1), decay=0.9, start=2)
        >>> opt.use_ema, opt.ema_momentum
        (True, 0.9)
    """
    if isinstance(decay, bool) or not isinstance(decay, (int, float)) or not 0.0 < decay < 1.0:
        raise ValueError(f"`decay` must be a number > 0 and < 1. Received: decay={decay!r}")
    for name, value, low in (("start", start, 0), ("every", every, 1)):
        if isinstance(value, bool) or not isinstance(value, numbers.Integral) or value < low:
            raise ValueError(f"`{name}` must be an integer >= {low}. Received: {name}={value!r}")
    target = optimizer
    while True:
        if callable(getattr(target, "assign_average_vars", None)):
            raise ValueError(
                f"`{type(target).__name__}` averages the weights itself (stochastic weight averaging); "
                "an EMA of the weights cannot be added to it. Use one of the two: `SWA(...)`, or "
                "`enable_ema(...)` on the plain optimizer.")
        inner = getattr(target, "inner_optimizer", None)
        if inner is None:
            break
        target = inner
    if target is not optimizer and getattr(optimizer, "inner_optimizer", None) is not target:
        raise ValueError(
            f"`{type(optimizer).__name__}` wraps its optimizer more than one level deep; "
            "`keras.callbacks.SwapEMAWeights` reaches one level. Received: "
            f"optimizer={type(optimizer).__name__}")
    if target.built and not getattr(target, "use_ema", False):
        raise ValueError(f"`enable_ema` needs an optimizer that is not built yet (it creates the "
                         f"averages when it builds), or one built with its average (loaded from a "
                         f"`.keras` file, say). Received: a built {type(target).__name__} without one")
    target.use_ema = True
    target.ema_momentum = decay
    target.ema_overwrite_frequency = None
    schedule_ema(target, lambda step: ema_momentum(step, decay, start, every))
    return optimizer
