"""Tiny models, data and readouts shared by the mirrored conformance checks."""

from __future__ import annotations

from typing import Any

import numpy as np


def data() -> tuple[np.ndarray, np.ndarray]:
    """16 examples of a noisy linear regression in 4 features."""
    rng = np.random.default_rng(0)
    x = rng.normal(size=(16, 4)).astype("float32")
    y = (x @ rng.normal(size=(4, 1)) + 0.1 * rng.normal(size=(16, 1))).astype("float32")
    return x, y


def mlp(seed: int = 1, hidden: int = 3, batch_norm: bool = False) -> Any:
    """A seeded 4 -> hidden (tanh) -> 1 MLP, optionally with synchronized batch norm."""
    import keras

    keras.utils.set_random_seed(seed)
    layers: list[Any] = [keras.Input((4,)), keras.layers.Dense(hidden, activation="tanh", name="hidden")]
    if batch_norm:  # synchronized: batch statistics of the global batch, as on one device
        layers.append(keras.layers.BatchNormalization(synchronized=True, name="norm"))
    layers.append(keras.layers.Dense(1, name="out"))
    return keras.Sequential(layers)


def weights(model: Any, prefix: str = "w") -> dict[str, np.ndarray]:
    """Every weight of `model` as an array, keyed by position and path."""
    # Keyed without the model's own name (it differs between the two runs).
    return {f"{prefix}{i}:{v.path.split('/', 1)[-1]}": np.asarray(v.numpy())
            for i, v in enumerate(model.weights)}


def replica_spread(variables: list[Any]) -> float:
    """Largest difference between the copies of any mirrored variable on its replicas."""
    spread = 0.0
    for variable in variables:
        value = getattr(variable, "value", variable)
        copies = getattr(value, "values", None)
        if not copies or len(copies) < 2:
            continue
        first = np.asarray(copies[0].numpy(), dtype="float64")
        for other in copies[1:]:
            spread = max(spread, float(np.max(np.abs(first - np.asarray(other.numpy(), "float64")),
                                           initial=0.0)))
    return spread


def all_variables(model: Any) -> list[Any]:
    """The model's variables and its optimizer's."""
    optimizer = getattr(model, "optimizer", None)
    return list(model.variables) + (list(optimizer.variables) if optimizer is not None else [])

