"""Lookahead: k fast steps forward, one step back (Zhang et al., 2019)."""

from __future__ import annotations

from typing import Any

from keras import ops

from kerasopt._keras_compat import iterations_variable
from kerasopt.optimizers._wrapper import OptimizerWrapper
from kerasopt.registry import register


@register("optimizer", aliases=["lookahead"])
class Lookahead(OptimizerWrapper):
    """Wraps any optimizer with Lookahead's slow weights.

    Implements Algorithm 1 of Zhang, Lucas, Hinton and Ba, "Lookahead Optimizer: k steps
    forward, 1 step back" (NeurIPS 2019). The inner ("fast") optimizer updates the model
    weights every step. Every `sync_period` steps the slow weights move towards the fast
    ones and the fast weights restart from them:

        phi <- phi + slow_step_size * (theta - phi);    theta <- phi

    Formulation choices: the slow weights start equal to the model weights at the first
    step (Algorithm 1, `phi_0 = theta_0`); synchronization happens after the inner update of
    steps `sync_period`, `2 * sync_period`, ... (counted by this wrapper's `iterations`), as
    in TensorFlow Addons, whose class and argument names are kept. The inner optimizer keeps
    its state across synchronizations (the paper's default, Section 3). With gradient
    accumulation on the inner optimizer the period counts batches, not applied updates.

    Args:
        optimizer: The inner optimizer: a `keras.optimizers.Optimizer`, a registered name
            (`"adam"`), a recipe spec (`{"type": "adam", "learning_rate": 0.01}`) or a
            Keras serialized config.
        sync_period: Number of fast steps `k` between synchronizations, an integer >= 1.
            Defaults to `6`.
        slow_step_size: Slow-weights step size `alpha`, in (0, 1]. Defaults to `0.5`.
        name: Name of the optimizer. Defaults to `None` (an automatic name).

    Raises:
        ValueError: If an argument is out of range or `optimizer` cannot be resolved.

    Example:
        ```python
        optimizer = Lookahead(keras.optimizers.Adam(1e-3), sync_period=5)
        model.compile(optimizer=optimizer, loss="mse")
        ```
    """

    def __init__(
        self,
        optimizer: Any,
        sync_period: int = 6,
        slow_step_size: float = 0.5,
        name: str | None = None,
    ) -> None:
        if isinstance(sync_period, bool) or not isinstance(sync_period, int) or sync_period < 1:
            raise ValueError(
                f"`sync_period` must be an integer >= 1. Received: sync_period={sync_period!r}"
            )
        if (isinstance(slow_step_size, bool) or not isinstance(slow_step_size, (int, float))
                or not 0.0 < slow_step_size <= 1.0):
            raise ValueError(
                "`slow_step_size` must be a number in (0, 1]. "
                f"Received: slow_step_size={slow_step_size!r}"
            )
        super().__init__(optimizer, name=name)
        self.sync_period = sync_period
        self.slow_step_size = slow_step_size

    def build(self, var_list: list[Any]) -> None:
        if self.built:
            return
        super().build(var_list)
        self._slow_weights = self.add_optimizer_variables(var_list, "slow")

    def _before_inner_step(self, variables: list[Any]) -> None:
        first = ops.equal(iterations_variable(self), 0)
        for variable in variables:
            slow = self._slot(variable, self._slow_weights)
            # Values, not Variables, into `where` (Keras's JAX `where` does not convert them).
            value, slow_value = ops.convert_to_tensor(variable), ops.convert_to_tensor(slow)
            slow.assign(ops.where(first, value, slow_value))

    def _after_inner_step(self, variables: list[Any]) -> None:
        sync = ops.equal(ops.mod(iterations_variable(self) + 1, self.sync_period), 0)
        for variable in variables:
            slow = self._slot(variable, self._slow_weights)
            alpha = ops.cast(self.slow_step_size, variable.dtype)
            value, slow_value = ops.convert_to_tensor(variable), ops.convert_to_tensor(slow)
            moved = slow_value + alpha * (value - slow_value)
            slow.assign(ops.where(sync, moved, slow_value))
            variable.assign(ops.where(sync, moved, value))

    def get_config(self) -> dict[str, Any]:
        config = super().get_config()
        config.update({"sync_period": self.sync_period, "slow_step_size": self.slow_step_size})
        return config
