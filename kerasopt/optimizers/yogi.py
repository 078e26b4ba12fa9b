"""Yogi: Adam with an additive, sign-controlled second moment."""

from __future__ import annotations

from typing import Any

import keras
from keras import ops

from kerasopt._keras_compat import variable_index
from kerasopt.optimizers._adaptive_base import (
    AdaptiveOptimizer,
    check_choice,
    check_float,
    one_minus_power,
    step_scalar,
)
from kerasopt.registry import register


@register("optimizer")
class Yogi(AdaptiveOptimizer):
    """Optimizer that implements Yogi.

    Zaheer et al., 2018, "Adaptive Methods for Nonconvex Optimization" (NeurIPS 2018),
    Algorithm 2. Adam's second moment v_t = v - (1 - beta_2)(v - g^2) can grow or
    shrink by a multiplicative amount and forgets past gradients quickly; Yogi's
    update v_t = v - (1 - beta_2) sign(v - g^2) g^2 changes v additively, by at most
    (1 - beta_2) g^2, so the effective learning rate increases in a controlled way.

    Formulation choices (those of TF Addons' `Yogi`, whose argument names and
    defaults are kept, with Keras spellings `beta_1`/`beta_2`):

    - the second moment starts at `initial_accumulator_value` (1e-6), not zero,
      as the paper's experiments do (Section 4);
    - epsilon outside the square root, lr_t / (sqrt(v_t) + epsilon), with the large
      default 1e-3 of the paper's experiments: epsilon trades adaptivity for noise;
    - bias correction of the step size, lr_t = lr sqrt(1 - beta_2^t) / (1 - beta_1^t)
      (TF Addons; Algorithm 2 itself has none);
    - `beta_1 = 0` drops the first moment (the step uses the raw gradient);
    - `activation="tanh"` replaces sign(g^2 - v) with tanh(10 (g^2 - v)) (TF Addons);
    - l1/l2 strengths act through a proximal step after the gradient step (as in FTRL):
      w = argmin_u 1/2 (1 + l2 a) u^2 - w' u + l1 a |u| with a the per-coordinate
      step size; this is separate from Keras's decoupled `weight_decay`.

    {{sparse_gradients}}

    Args:
        learning_rate: A float, a `keras.optimizers.schedules.LearningRateSchedule`,
            or a callable without arguments returning the rate. Defaults to `0.01`.
        beta_1: Decay rate of the first moment, in [0, 1). Defaults to `0.9`.
        beta_2: Rate of change of the second moment, in (0, 1). Defaults to `0.999`.
        epsilon: Added to sqrt(v_t) in the denominator. Defaults to `1e-3`.
        l1_regularization_strength: L1 strength of the proximal step, >= 0.
            Defaults to `0.0`.
        l2_regularization_strength: L2 strength of the proximal step, >= 0.
            Defaults to `0.0`.
        initial_accumulator_value: Starting value of the second moment, > 0.
            Defaults to `1e-6`.
        activation: "sign" (the paper) or "tanh" (a smooth sign). Defaults to `"sign"`.
        weight_decay: Keras's decoupled weight decay rate, or None. Defaults to `None`.
        {{base_optimizer_keyword_args}}

    Raises:
        ValueError: If an argument is outside its allowed range.

    Example:
        ```python
        import keras
        from kerasopt.optimizers.yogi import Yogi

        model = keras.Sequential([keras.Input((4,)), keras.layers.Dense(1)])
        model.compile(optimizer=Yogi(learning_rate=0.01), loss="mse")
        ```
    """

    _config_keys = (
        "beta_1", "beta_2", "epsilon", "l1_regularization_strength",
        "l2_regularization_strength", "initial_accumulator_value", "activation",
    )

    def __init__(
        self,
        learning_rate: float | Any = 0.01,
        beta_1: float = 0.9,
        beta_2: float = 0.999,
        epsilon: float = 1e-3,
        l1_regularization_strength: float = 0.0,
        l2_regularization_strength: float = 0.0,
        initial_accumulator_value: float = 1e-6,
        activation: str = "sign",
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
        check_float("beta_1", beta_1, low=0.0, high=1.0, high_open=True)
        check_float("beta_2", beta_2, low=0.0, high=1.0, low_open=True, high_open=True)
        check_float("epsilon", epsilon, low=0.0)
        check_float("l1_regularization_strength", l1_regularization_strength, low=0.0)
        check_float("l2_regularization_strength", l2_regularization_strength, low=0.0)
        check_float("initial_accumulator_value", initial_accumulator_value, low=0.0, low_open=True)
        check_choice("activation", activation, ("sign", "tanh"))
        check_float("weight_decay", weight_decay, low=0.0, allow_none=True)
        self.beta_1 = beta_1
        self.beta_2 = beta_2
        self.epsilon = epsilon
        self.l1_regularization_strength = l1_regularization_strength
        self.l2_regularization_strength = l2_regularization_strength
        self.initial_accumulator_value = initial_accumulator_value
        self.activation = activation

    def build(self, var_list: list[Any]) -> None:
        """Create the second moment (at `initial_accumulator_value`) and the first."""
        if self.built:
            return
        super().build(var_list)
        start = keras.initializers.Constant(self.initial_accumulator_value)
        self._velocities = self.add_optimizer_variables(var_list, "velocity", initializer=start)
        if self.beta_1 > 0:
            self._momentums = self.add_optimizer_variables(var_list, "momentum")

    def update_step(self, gradient: Any, variable: Any, learning_rate: Any) -> None:
        """Apply one Yogi step to `variable`."""
        dtype = variable.dtype
        gradient = ops.cast(gradient, dtype)
        index = variable_index(self, variable)
        step = self._step()
        bias_1 = one_minus_power(self.beta_1, step)
        bias_2 = one_minus_power(self.beta_2, step)
        lr = ops.cast(step_scalar(learning_rate) * ops.sqrt(bias_2) / bias_1, dtype)

        v = self._velocities[index]
        grad_sq = ops.square(gradient)
        if self.activation == "sign":
            direction = ops.sign(ops.subtract(grad_sq, v))
        else:
            direction = ops.tanh(ops.multiply(ops.subtract(grad_sq, v), 10.0))
        self.assign_add(v, ops.multiply(ops.multiply(direction, grad_sq), 1.0 - self.beta_2))

        if self.beta_1 > 0:
            m = self._momentums[index]
            self.assign_add(m, ops.multiply(ops.subtract(gradient, m), 1.0 - self.beta_1))
            descent = m
        else:
            descent = gradient

        per_coord_lr = ops.divide(lr, ops.add(ops.sqrt(v), self.epsilon))
        new = ops.subtract(variable, ops.multiply(per_coord_lr, descent))
        l1, l2 = self.l1_regularization_strength, self.l2_regularization_strength
        if l1 > 0:
            scale = ops.add(1.0, ops.multiply(per_coord_lr, l2))
            threshold = ops.multiply(per_coord_lr, l1)
            shrunk = ops.maximum(ops.subtract(ops.abs(new), threshold), 0.0)
            new = ops.divide(ops.multiply(ops.sign(new), shrunk), scale)
        elif l2 > 0:
            new = ops.divide(new, ops.add(1.0, ops.multiply(per_coord_lr, l2)))
        self.assign(variable, new)
