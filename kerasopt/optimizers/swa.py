"""Stochastic Weight Averaging (Izmailov et al., 2018)."""

from __future__ import annotations

from typing import Any

from keras import ops

from kerasopt._keras_compat import has_variable, iterations_variable
from kerasopt.optimizers._wrapper import OptimizerWrapper
from kerasopt.registry import register


@register("optimizer", aliases=["swa", "stochastic_weight_averaging"])
class SWA(OptimizerWrapper):
    """Wraps any optimizer and keeps a running average of the weights it visits.

    Implements Stochastic Weight Averaging from Izmailov, Podoprikhin, Garipov, Vetrov and
    Wilson, "Averaging Weights Leads to Wider Optima and Better Generalization" (UAI 2018),
    Algorithm 1, with TensorFlow Addons' class and argument names. The inner optimizer trains
    the model as usual; after the inner update of step `i` (0-based, this wrapper's
    `iterations`), when `i >= start_averaging` and `(i - start_averaging)` is a multiple of
    `average_period`, the updated weights join the average:

        w_swa <- (w_swa * n + w) / (n + 1),   n = (i - start_averaging) // average_period

    The model keeps training on its own weights; call `assign_average_vars` to copy the
    averages into the model, then `kerasopt.training.recompute_batch_norm_statistics` to
    recompute batch-norm moving statistics for the averaged weights (Section 3.2 of the
    paper) before evaluation or export. The learning-rate schedule (constant or cyclical, the
    paper's Section 3.1) is the inner optimizer's.

    Args:
        optimizer: The inner optimizer: a `keras.optimizers.Optimizer`, a registered name,
            a recipe spec or a Keras serialized config.
        start_averaging: Step from which weights are averaged, an integer >= 0.
            Defaults to `0`.
        average_period: Steps between two snapshots in the average, an integer >= 1.
            Defaults to `10`.
        name: Name of the optimizer. Defaults to `None` (an automatic name).

    Raises:
        ValueError: If an argument is out of range or `optimizer` cannot be resolved.

    Example:
        ```python
        optimizer = SWA(keras.optimizers.SGD(0.01), start_averaging=100, average_period=10)
        model.compile(optimizer=optimizer, loss="mse")
        model.fit(x, y, epochs=5)
        optimizer.assign_average_vars(model.trainable_variables)
        recompute_batch_norm_statistics(model, x, batch_size=32)
        ```
    """

    def __init__(
        self,
        optimizer: Any,
        start_averaging: int = 0,
        average_period: int = 10,
        name: str | None = None,
    ) -> None:
        if (isinstance(start_averaging, bool) or not isinstance(start_averaging, int)
                or start_averaging < 0):
            raise ValueError(
                "`start_averaging` must be an integer >= 0. "
                f"Received: start_averaging={start_averaging!r}"
            )
        if (isinstance(average_period, bool) or not isinstance(average_period, int)
                or average_period < 1):
            raise ValueError(
                "`average_period` must be an integer >= 1. "
                f"Received: average_period={average_period!r}"
            )
        super().__init__(optimizer, name=name)
        self.start_averaging = start_averaging
        self.average_period = average_period

    def build(self, var_list: list[Any]) -> None:
        if self.built:
            return
        super().build(var_list)
        self._averages = self.add_optimizer_variables(var_list, "average")

    def _snapshots_before(self, step: Any) -> Any:
        """Number of snapshots already in the average when step `step` runs."""
        return ops.maximum(ops.floor_divide(step - self.start_averaging, self.average_period), 0)

    def _after_inner_step(self, variables: list[Any]) -> None:
        step = iterations_variable(self)
        count = self._snapshots_before(step)
        take = ops.logical_and(
            ops.greater_equal(step, self.start_averaging),
            ops.equal(step, self.start_averaging + count * self.average_period),
        )
        for variable in variables:
            # Values, not Variables, into `where` (Keras's JAX `where` does not convert them).
            slot = self._slot(variable, self._averages)
            average = ops.convert_to_tensor(slot)
            n = ops.cast(count, variable.dtype)
            updated = (average * n + ops.convert_to_tensor(variable)) / (n + 1.0)
            slot.assign(ops.where(take, updated, average))

    def assign_average_vars(self, var_list: list[Any]) -> None:
        """Copy the averaged weights into the model variables.

        Variables that have no average yet (no snapshot taken, or not trained by this
        optimizer) keep their values.

        Args:
            var_list: Model variables, usually `model.trainable_variables`.

        Raises:
            ValueError: If the optimizer was never built.
        """
        if not self.built:
            raise ValueError(
                "SWA.assign_average_vars needs a built optimizer: train first "
                "(or call `optimizer.build(model.trainable_variables)`)."
            )
        taken = ops.greater(iterations_variable(self), self.start_averaging)
        for variable in var_list:
            if not has_variable(self, variable):
                continue
            average = ops.convert_to_tensor(self._slot(variable, self._averages))
            variable.assign(ops.where(taken, average, ops.convert_to_tensor(variable)))

    def get_config(self) -> dict[str, Any]:
        config = super().get_config()
        config.update(
            {"start_averaging": self.start_averaging, "average_period": self.average_period}
        )
        return config
