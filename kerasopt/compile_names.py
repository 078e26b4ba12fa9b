"""Keras's loss and metric names as `model.compile` accepts them, for the signature table and the runner.

`model.compile(loss=..., metrics=[...])` resolves a string exactly: class names
(`MeanSquaredError`), function names (`mean_squared_error`), the short names of Keras's
lookup tables (`mse`, `MSE`, `bce`...) and, in compile itself, `crossentropy`/`ce` for a loss
and `accuracy`/`acc` for a metric, chosen to match the labels. Recipes match names ignoring
case, `_` and `-`; :func:`compile_argument` turns a recipe's spelling into one compile takes.
"""

from __future__ import annotations

from typing import Any

# Names Keras's `losses.get` / `metrics.get` accept besides class and function names (the
# short aliases of their ALL_OBJECTS_DICT), and the names `model.compile` resolves itself from
# the labels' shape (keras/src/trainers/compile_utils.py: `get_loss`, `get_metric`).
KERAS_SHORT_NAMES: tuple[str, ...] = ("bce", "kld", "mae", "mape", "mse", "msle")
COMPILE_SHORTHANDS: dict[str, tuple[str, ...]] = {
    "loss": ("crossentropy", "ce"), "metric": ("accuracy", "acc")}


def keras_get(kind: str, name: str) -> Any:
    """What `keras.losses.get` / `keras.metrics.get` return for a name, or None if they refuse it."""
    import keras

    module = keras.losses if kind == "loss" else keras.metrics
    try:
        return module.get(name)
    except (ValueError, TypeError):
        return None
