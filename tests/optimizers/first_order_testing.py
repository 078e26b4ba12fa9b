"""Test helpers shared by the first-order optimizers' tests (not a test module).

`keras_trajectory` runs a kerasopt optimizer eagerly on NumPy-computed gradients and
records the weights after every step; each test compares that trajectory with its own
NumPy re-derivation of the paper's update rule, run on the same gradient function.
"""

from __future__ import annotations

from collections.abc import Callable

import keras
import numpy as np

# The test problem: f(w) = sum(0.5 * CURVATURE * w^2 + SHIFT * w), minimum at -SHIFT / CURVATURE.
CURVATURE = np.array([1.0, 10.0, 0.5, 3.0])
SHIFT = np.array([0.3, -0.2, 0.1, 0.0])
START = np.array([1.0, -0.5, 2.0, -1.5])


def quadratic_gradient(w: np.ndarray) -> np.ndarray:
    """Gradient of the shared test problem at `w`."""
    return CURVATURE * w + SHIFT


def keras_trajectory(
    optimizer: keras.optimizers.Optimizer,
    starts: list[np.ndarray],
    gradient: Callable[[list[np.ndarray]], list[np.ndarray]],
    steps: int,
    dtype: str = "float32",
    names: list[str] | None = None,
) -> list[np.ndarray]:
    """Weights of each variable after each of `steps` eager `optimizer.apply` calls.

    Returns:
        One array per variable, of shape (steps, *variable.shape).
    """
    names = names or [f"w{i}" for i in range(len(starts))]
    variables = [keras.Variable(np.asarray(s, dtype=dtype), name=n) for s, n in zip(starts, names, strict=True)]
    history: list[list[np.ndarray]] = [[] for _ in variables]
    for _ in range(steps):
        current = [np.asarray(v.numpy(), dtype="float64") for v in variables]
        grads = [keras.ops.convert_to_tensor(g.astype(dtype)) for g in gradient(current)]
        optimizer.apply(grads, variables)
        for record, variable in zip(history, variables, strict=True):
            record.append(np.asarray(variable.numpy(), dtype="float64"))
    return [np.stack(record) for record in history]


def single_variable(gradient: Callable[[np.ndarray], np.ndarray]) -> Callable[[list[np.ndarray]], list[np.ndarray]]:
    """Adapt a one-variable gradient function to `keras_trajectory`'s list form."""
    return lambda ws: [gradient(ws[0])]
