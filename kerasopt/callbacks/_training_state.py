"""Exact snapshots of a model's weights and its optimizer's variables.

`LRFinder` and `BatchSizeFinder` train a model on purpose only to measure it; both
put every weight and every optimizer variable (iterations, learning rate, moments,
...) back bit for bit afterwards, with this one helper.
"""

from __future__ import annotations

import contextlib
import dataclasses

import keras
import numpy as np


@dataclasses.dataclass(frozen=True)
class TrainingState:
    """Host copies of a model's weights and its optimizer's variables."""

    weights: list[np.ndarray]
    optimizer_variables: list[np.ndarray]


def require_compiled(model: keras.Model, who: str) -> keras.optimizers.Optimizer:
    """Return the model's optimizer, raising if the model was not compiled with one."""
    optimizer = getattr(model, "optimizer", None)
    if optimizer is None:
        raise ValueError(
            f"{who} needs a compiled model with an optimizer; call "
            "`model.compile(optimizer=..., loss=...)` first. "
            f"Received a model of type {type(model).__module__}.{type(model).__qualname__} "
            "without an optimizer."
        )
    return optimizer


def require_settable_learning_rate(optimizer: keras.optimizers.Optimizer, who: str) -> None:
    """Raise unless the optimizer's learning rate is a variable (not a schedule/callable)."""
    if not isinstance(optimizer.learning_rate, keras.Variable):
        raise ValueError(
            f"{who} sets the optimizer's learning rate, so the optimizer must be built "
            "with a float `learning_rate`, not a schedule or callable. Received an "
            f"optimizer {type(optimizer).__qualname__} whose learning rate is "
            f"{type(optimizer.learning_rate).__qualname__}."
        )


def snapshot(model: keras.Model) -> TrainingState:
    """Copy the model's weights and its (built) optimizer's variables to host memory."""
    optimizer = require_compiled(model, "Snapshotting the training state")
    if not optimizer.built:
        strategy = getattr(model, "distribute_strategy", None)  # slots are created in its scope
        with strategy.scope() if strategy is not None else contextlib.nullcontext():
            optimizer.build(model.trainable_variables)
    return TrainingState(
        weights=[np.array(v.numpy(), copy=True) for v in model.weights],
        optimizer_variables=[
            np.array(v.numpy(), copy=True) for v in optimizer.variables
        ],
    )


def restore(model: keras.Model, state: TrainingState) -> None:
    """Assign a snapshot back: every weight and every optimizer variable, exactly."""
    for variable, value in zip(model.weights, state.weights, strict=True):
        variable.assign(value)
    for variable, value in zip(model.optimizer.variables, state.optimizer_variables, strict=True):
        variable.assign(value)
