"""Shared base of kerasopt's optimizer wrappers (Lookahead, SAM, SWA, GradientCentralization).

A wrapper owns an inner optimizer, given as an object, a registered name, a recipe spec
(`{"type": "adam", "learning_rate": 0.01}`) or a Keras serialized config. It delegates the
learning rate, loss scaling and end-of-training finalization to the inner optimizer, so
learning-rate callbacks and schedules act on the optimizer that does the update. Its
`variables` are its own state followed by the inner optimizer's, so saving the wrapper saves
and restores both.

This module also holds the helpers of optimizers that need a closure (a function that
recomputes loss and gradients on the current batch, see `kerasopt.training.enable_closure`).
"""

from __future__ import annotations

from typing import Any

import keras

from kerasopt._keras_compat import (
    built_variables,
    iterations_variable,
    own_variables,
    variable_index,
)
from kerasopt.optimizers._adaptive_base import check_learning_rate

CLOSURE_HINT = (
    "call kerasopt.training.enable_closure(model) before fit, or in a recipe nothing is needed "
    "(the recipe runner enables it for optimizers with `requires_closure = True`). In a custom "
    "training loop, call `optimizer.apply_with_closure(closure, model.trainable_variables)` "
    "with a `kerasopt.training.closure.Closure`."
)


def closure_required_error(optimizer: Any, need: str) -> ValueError:
    """The error raised when an optimizer needing a closure gets a plain `apply`."""
    return ValueError(
        f"{type(optimizer).__name__} needs {need} on the same batch, which Keras's stock "
        f"train step cannot provide: {CLOSURE_HINT}"
    )


def resolve_optimizer(spec: Any, owner: str) -> keras.optimizers.Optimizer:
    """Turn an optimizer object, name, recipe spec or Keras config into an optimizer.

    Raises:
        ValueError: If `spec` is none of these.
    """
    if isinstance(spec, keras.optimizers.Optimizer):
        return spec
    if isinstance(spec, str) or (isinstance(spec, dict) and "type" in spec):
        from kerasopt.registry import build

        return build("optimizer", spec)
    if isinstance(spec, dict) and "class_name" in spec:
        built = keras.saving.deserialize_keras_object(spec)
        if isinstance(built, keras.optimizers.Optimizer):
            return built
    raise ValueError(
        f"`optimizer` of {owner} must be a keras.optimizers.Optimizer, a registered optimizer "
        "name, a spec dict with a `type` key, or a Keras serialized optimizer config. Received: "
        f"optimizer={spec!r} of type {type(spec).__module__}.{type(spec).__qualname__}"
    )


class OptimizerWrapper(keras.optimizers.Optimizer):
    """Base class of optimizers that wrap another optimizer.

    Subclasses override `_before_inner_step`, `_transform_gradients` and
    `_after_inner_step`; `apply` runs them around the inner optimizer's own `apply` (which
    does loss-scale unscaling, clipping, weight decay, gradient accumulation and EMA as
    configured on the inner optimizer). The shared Keras optimizer arguments (`clipnorm`,
    `weight_decay`, `use_ema`...) belong on the inner optimizer; a wrapper takes none.

    Args:
        optimizer: The inner optimizer (object, registered name, spec or Keras config).
        name: Name of the wrapper. Defaults to `None` (derived from the class name).
    """

    def __init__(self, optimizer: Any, name: str | None = None) -> None:
        inner = resolve_optimizer(optimizer, type(self).__name__)
        rate = inner.learning_rate  # a variable for a number, else the schedule or callable
        if isinstance(rate, keras.Variable):
            check_learning_rate(float(keras.ops.convert_to_numpy(rate)),
                                f"{type(self).__name__}'s inner {type(inner).__name__}")
        super().__init__(learning_rate=0.0, name=name)
        self.inner_optimizer = inner

    # -- delegation -------------------------------------------------------------------
    @property
    def requires_closure(self) -> bool:
        """Whether the inner optimizer needs a closure (see `kerasopt.training`)."""
        return bool(getattr(self.inner_optimizer, "requires_closure", False))

    @property
    def learning_rate(self) -> Any:
        return self.inner_optimizer.learning_rate

    @learning_rate.setter
    def learning_rate(self, learning_rate: Any) -> None:
        self.inner_optimizer.learning_rate = learning_rate

    @property
    def variables(self) -> list[Any]:
        return own_variables(self) + list(self.inner_optimizer.variables)

    def scale_loss(self, loss: Any) -> Any:
        return self.inner_optimizer.scale_loss(loss)

    def finalize_variable_values(self, var_list: list[Any]) -> None:
        self.inner_optimizer.finalize_variable_values(var_list)

    # -- building and applying ----------------------------------------------------------
    def build(self, var_list: list[Any]) -> None:
        if not self.inner_optimizer.built:
            self.inner_optimizer.build(var_list)
        super().build(var_list)

    def _ready(self, trainable_variables: Any) -> list[Any]:
        if trainable_variables is None:
            if not self.built:
                raise ValueError(
                    f"{type(self).__name__} must be built before `apply(grads)` without "
                    "variables: call `optimizer.build(trainable_variables)` first."
                )
            return built_variables(self)
        variables = list(trainable_variables)
        if not self.built:
            with keras.name_scope(self.name, caller=self):
                self.build(variables)
        return variables

    def apply(self, grads: Any, trainable_variables: Any = None) -> None:
        variables = self._ready(trainable_variables)
        grads = list(grads)
        self._before_inner_step(variables)
        self.inner_optimizer.apply(self._transform_gradients(grads, variables), variables)
        self._after_inner_step(variables)
        iterations_variable(self).assign_add(1)

    def apply_with_closure(self, closure: Any, trainable_variables: Any) -> None:
        """Apply one step given a closure that recomputes loss and gradients on the batch.

        Args:
            closure: A `kerasopt.training.closure.Closure` (or an object with the same
                methods) bound to the current batch.
            trainable_variables: The variables to update.
        """
        variables = self._ready(trainable_variables)
        if not self.requires_closure:
            _, grads = closure()
            self.apply(grads, variables)
            return
        self._before_inner_step(variables)
        transformed = closure.with_gradient_transform(
            lambda grads: self._transform_gradients(grads, variables)
        )
        self.inner_optimizer.apply_with_closure(transformed, variables)
        self._after_inner_step(variables)
        iterations_variable(self).assign_add(1)

    def _before_inner_step(self, variables: list[Any]) -> None:
        """Runs before the inner update (reads the wrapper's own step counter)."""

    def _transform_gradients(self, grads: list[Any], variables: list[Any]) -> list[Any]:
        """Returns the gradients handed to the inner optimizer."""
        return grads

    def _after_inner_step(self, variables: list[Any]) -> None:
        """Runs after the inner update, before the wrapper's step counter increments."""

    def _slot(self, variable: Any, slots: list[Any]) -> Any:
        return slots[variable_index(self, variable)]

    # -- config -----------------------------------------------------------------------
    def get_config(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "optimizer": keras.saving.serialize_keras_object(self.inner_optimizer),
        }

    @classmethod
    def from_config(cls, config: dict[str, Any], custom_objects: Any = None) -> OptimizerWrapper:
        config = dict(config)
        inner = config.pop("optimizer")
        if isinstance(inner, dict) and "class_name" in inner:
            inner = keras.saving.deserialize_keras_object(inner, custom_objects=custom_objects)
        return cls(inner, **config)
