"""Rprop (iRprop-): sign-based steps whose sizes adapt per weight."""

from __future__ import annotations

from typing import Any

from keras import ops

from kerasopt._keras_compat import variable_index
from kerasopt.optimizers._adaptive_base import AdaptiveOptimizer, check_float
from kerasopt.registry import register


@register("optimizer")
class Rprop(AdaptiveOptimizer):
    """Optimizer that implements resilient backpropagation, iRprop-.

    Riedmiller & Braun (1993) proposed Rprop; this is the iRprop- variant of Igel &
    Hüsken, 2000, "Improving the Rprop Learning Algorithm" (Section 3, Fig. 2), the
    variant `torch.optim.Rprop` implements. Only the sign of the gradient is used;
    each weight has its own step size that grows by `eta_plus` while the gradient
    keeps its sign and shrinks by `eta_minus` when the sign flips:

        if g g_prev > 0:  step = min(step eta_plus, max_step)
        if g g_prev < 0:  step = max(step eta_minus, min_step); g = 0
        w -= sign(g) step;  g_prev = g

    After a sign flip the gradient is treated as zero for that step (no move, and no
    step-size change on the next step); unlike Rprop+ the previous move is not
    undone (no weight backtracking).

    Formulation choices: `learning_rate` is the initial step size of every weight,
    read on the first update (a schedule is evaluated once, at step 0; later the
    step sizes evolve on their own, as in torch's `lr`); the first update has no
    previous gradient and moves every weight by sign(g) learning_rate. Rprop is a
    full-batch method: with noisy mini-batch gradients the sign flips often. A Keras
    `weight_decay` is decoupled (w -= learning_rate weight_decay w).

    {{sparse_gradients}}

    Args:
        learning_rate: The initial step size, a float, a
            `keras.optimizers.schedules.LearningRateSchedule` or a callable.
            Defaults to `0.01`.
        eta_minus: Step-size factor after a sign flip, in (0, 1). Defaults to `0.5`.
        eta_plus: Step-size factor while the sign holds, > 1. Defaults to `1.2`.
        min_step: Smallest step size, > 0. Defaults to `1e-6`.
        max_step: Largest step size, >= `min_step`. Defaults to `50.0`.
        weight_decay: Keras's decoupled weight decay rate, or None. Defaults to `None`.
        {{base_optimizer_keyword_args}}

    Raises:
        ValueError: If an argument is outside its allowed range.

    Example:
        ```python
        import keras
        from kerasopt.optimizers.rprop import Rprop

        model = keras.Sequential([keras.Input((4,)), keras.layers.Dense(1)])
        model.compile(optimizer=Rprop(learning_rate=0.01), loss="mse")
        # Full batch: one batch holds the whole training set.
        ```
    """

    _config_keys = ("eta_minus", "eta_plus", "min_step", "max_step")

    def __init__(
        self,
        learning_rate: float | Any = 0.01,
        eta_minus: float = 0.5,
        eta_plus: float = 1.2,
        min_step: float = 1e-6,
        max_step: float = 50.0,
        weight_decay: float | None = None,
        clipnorm: float | None = None,
        clipvalue: float | None = None,
        global_clipnorm: float | None = None,
        use_ema: bool = False,
        ema_momentum: float = 0.99,
        ema_overwrite_frequency: int | None = None,
        loss_scale_factor: float | None = None,
        gradient_accumulation_steps: int | None = None,
        name: str | None = None,
        **kwargs: Any,
    ) -> None:
        super().__init__(
            learning_rate=learning_rate,
            weight_decay=weight_decay,
            clipnorm=clipnorm,
            clipvalue=clipvalue,
            global_clipnorm=global_clipnorm,
            use_ema=use_ema,
            ema_momentum=ema_momentum,
            ema_overwrite_frequency=ema_overwrite_frequency,
            loss_scale_factor=loss_scale_factor,
            gradient_accumulation_steps=gradient_accumulation_steps,
            name=name,
            **kwargs,
        )
        self._remember(learning_rate)
        check_float("eta_minus", eta_minus, low=0.0, high=1.0, low_open=True, high_open=True)
        check_float("eta_plus", eta_plus, low=1.0, low_open=True)
        check_float("min_step", min_step, low=0.0, low_open=True)
        check_float("max_step", max_step, low=float(min_step))
        check_float("weight_decay", weight_decay, low=0.0, allow_none=True)
        self.eta_minus = eta_minus
        self.eta_plus = eta_plus
        self.min_step = min_step
        self.max_step = max_step

    def build(self, var_list: list[Any]) -> None:
        """Create the previous gradient and the per-weight step size of each variable."""
        if self.built:
            return
        super().build(var_list)
        self._previous, self._steps = self.add_optimizer_variables(
            var_list, ["previous_gradient", "step_size"]
        )

    def update_step(self, gradient: Any, variable: Any, learning_rate: Any) -> None:
        """Apply one iRprop- step to `variable`."""
        dtype = variable.dtype
        gradient = ops.cast(gradient, dtype)
        index = variable_index(self, variable)
        previous, step = self._previous[index], self._steps[index]

        initial = ops.cast(learning_rate, dtype)
        # Variables go through convert_to_tensor: Keras's JAX `where` passes them to
        # jnp.where unconverted, which JAX rejects.
        step_size = ops.where(ops.equal(self.iterations, 0), initial, ops.convert_to_tensor(step))
        agreement = ops.multiply(ops.sign(gradient), ops.sign(ops.convert_to_tensor(previous)))
        grown = ops.minimum(ops.multiply(step_size, self.eta_plus), self.max_step)
        shrunk = ops.maximum(ops.multiply(step_size, self.eta_minus), self.min_step)
        step_size = ops.where(agreement > 0, grown, ops.where(agreement < 0, shrunk, step_size))
        gradient = ops.where(agreement < 0, ops.zeros_like(gradient), gradient)

        self.assign(step, step_size)
        self.assign(previous, gradient)
        self.assign_sub(variable, ops.multiply(ops.sign(gradient), step_size))
