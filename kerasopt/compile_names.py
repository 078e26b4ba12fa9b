"""Keras's loss and metric names as `model.compile` accepts them, for the signature table and the runner.

`model.compile(loss=..., metrics=[...])` resolves a string exactly: class names
(`MeanSquaredError`), function names (`mean_squared_error`), the short names of Keras's
lookup tables (`mse`, `MSE`, `bce`...) and, in compile itself, `crossentropy`/`ce` for a loss
and `accuracy`/`acc` for a metric, chosen to match the labels. Recipes match names ignoring
case, `_` and `-`; :func:`compile_argument` turns a recipe's spelling into one compile takes.
"""

from __future__ import annotations

import inspect
from typing import Any

from kerasopt import registry

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


def add_keras_names(kind: str, entries: dict[str, Any]) -> None:
    """Keras's loss or metric functions and short names, as far as `model.compile` accepts them."""
    import keras

    module = keras.losses if kind == "loss" else keras.metrics
    for attr in sorted(dir(module)):
        obj = getattr(module, attr)
        if attr.startswith("_") or not inspect.isfunction(obj) or attr in ("get", "serialize", "deserialize"):
            continue
        if keras_get(kind, attr) is None:
            continue  # public, but not a name compile accepts (keras.metrics.huber)
        entries.setdefault(registry.canonical(attr), {
            "name": attr, "source": "keras", "params": [], "open_kwargs": False, "summary": registry.summary_line(obj)})
    for short in KERAS_SHORT_NAMES:
        target = keras_get(kind, short)
        if target is None:
            continue
        target_type = target if inspect.isfunction(target) else type(target)
        params, open_kwargs = registry.signature_params(target_type, kind)
        entries.setdefault(registry.canonical(short), {
            "name": short, "source": "keras", "params": params, "open_kwargs": open_kwargs,
            "summary": f"Short for {target_type.__name__}."})
    for shorthand in COMPILE_SHORTHANDS[kind]:
        entries.setdefault(registry.canonical(shorthand), {
            "name": shorthand, "source": "keras", "params": [], "open_kwargs": False,
            "summary": "Chosen by model.compile to match the labels (binary, categorical or sparse)."})


def compile_argument(kind: str, name: str) -> Any:
    """What to pass to `model.compile` for a Keras loss or metric named in a recipe.

    Recipes match names ignoring case, `_` and `-` (`Mse`, `mean-squared-error`); Keras
    matches exactly. A name Keras accepts as written is returned unchanged (it names the
    metric in logs, and `accuracy`/`crossentropy` keep compile's choice by label shape);
    another spelling becomes the one in the signature table; a class Keras's lookup does
    not list (`CategoricalGeneralizedCrossEntropy`) is built here.

    Args:
        kind: `"loss"` or `"metric"`.
        name: The name as the recipe writes it.

    Returns:
        A name that `model.compile` resolves, or the built loss or metric.
    """
    if name.lower() in COMPILE_SHORTHANDS[kind] or keras_get(kind, name) is not None:
        return name
    found = registry.load_table()["kinds"][kind].get(registry.canonical(name))
    if found is not None and keras_get(kind, found["name"]) is not None:
        return found["name"]
    return registry.build(kind, name)
