"""Private base of the Adam-family optimizers with RAdam rectification and warmup.

`RectifiedAdam` and `AdaBelief` differ only in their second moment (Adam's
E[g^2] versus AdaBelief's E[(g - m)^2] + epsilon). Everything else is shared here, in
the form TF Addons' `RectifiedAdam` and the authors' `adabelief_tf` package compute it:

- optional linear warmup then linear decay of the learning rate
  (`total_steps`, `warmup_proportion`, `min_lr`);
- bias-corrected moments, optional AMSGrad maximum of the second moment;
- the rectification of Liu et al. (2019), Algorithm 2: with
  rho_inf = 2 / (1 - beta_2) - 1 and rho_t = rho_inf - 2 t beta_2^t / (1 - beta_2^t),
  the adaptive step r_t * m_hat / (sqrt(v_hat) + epsilon) is taken while
  rho_t >= sma_threshold, the momentum step m_hat otherwise;
- weight decay inside the step, `lr * (update + weight_decay * w)`, as both reference
  implementations do (decoupled from the gradient, scaled by the warmed-up rate);
  `weight_decay` may be a schedule of the step, as TF Addons' RAdam and AdaBelief allowed.
"""

from __future__ import annotations

from typing import Any

from keras import ops

from kerasopt._keras_compat import variable_index
from kerasopt.optimizers._adaptive_base import (
    AdaptiveOptimizer,
    check_bool,
    check_float,
    check_int,
    check_weight_decay,
    one_minus_power,
    step_scalar,
)


class RectifiedMomentOptimizer(AdaptiveOptimizer):
    """Shared update of `RectifiedAdam` and `AdaBelief`.

    Subclasses define `_second_moment(v, gradient, m)`, which returns the new raw
    second moment (before bias correction) given the old one, the gradient and the
    new first moment; they validate and store the shared arguments in `__init__`
    with `_set_rectified_args`, and override `_rectified` to make rectification
    optional.
    """

    decay_in_update_rule = True

    def _set_rectified_args(
        self,
        *,
        beta_1: float,
        beta_2: float,
        epsilon: float,
        amsgrad: bool,
        sma_threshold: float,
        total_steps: int,
        warmup_proportion: float,
        min_lr: float,
        weight_decay: Any,
    ) -> None:
        check_float("beta_1", beta_1, low=0.0, high=1.0, high_open=True)
        check_float("beta_2", beta_2, low=0.0, high=1.0, low_open=True, high_open=True)
        check_float("epsilon", epsilon, low=0.0)
        check_bool("amsgrad", amsgrad)
        check_float("sma_threshold", sma_threshold, low=0.0)
        check_int("total_steps", total_steps, low=0)
        check_float("warmup_proportion", warmup_proportion, low=0.0, high=1.0)
        check_float("min_lr", min_lr, low=0.0)
        check_weight_decay(weight_decay, allow_schedule=True)
        self.beta_1 = beta_1
        self.beta_2 = beta_2
        self.epsilon = epsilon
        self.amsgrad = amsgrad
        self.sma_threshold = sma_threshold
        self.total_steps = total_steps
        self.warmup_proportion = warmup_proportion
        self.min_lr = min_lr

    def build(self, var_list: list[Any]) -> None:
        """Create the first moment, second moment and (with AMSGrad) its maximum."""
        if self.built:
            return
        super().build(var_list)
        self._momentums, self._velocities = self.add_optimizer_variables(
            var_list, ["momentum", "velocity"]
        )
        if self.amsgrad:
            self._velocity_hats = self.add_optimizer_variables(var_list, "velocity_hat")

    def _warmed_learning_rate(self, learning_rate: Any, step: Any) -> Any:
        """TF Addons' linear warmup over `total_steps * warmup_proportion`, then linear decay."""
        lr = step_scalar(learning_rate)
        if self.total_steps <= 0:
            return lr
        total = float(self.total_steps)
        warmup_steps = total * self.warmup_proportion
        decay_steps = max(total - warmup_steps, 1.0)
        decay_rate = (self.min_lr - lr) / decay_steps
        warm = lr * step / max(warmup_steps, 1e-12)
        decayed = lr + decay_rate * ops.minimum(step - warmup_steps, decay_steps)
        return ops.where(step <= warmup_steps, warm, decayed)

    def update_step(self, gradient: Any, variable: Any, learning_rate: Any) -> None:
        """Apply one rectified Adam-family step to `variable`."""
        dtype = variable.dtype
        gradient = ops.cast(gradient, dtype)
        index = variable_index(self, variable)
        m = self._momentums[index]
        v = self._velocities[index]

        step = self._step()
        bias_1 = one_minus_power(self.beta_1, step)
        bias_2 = one_minus_power(self.beta_2, step)
        lr = self._warmed_learning_rate(learning_rate, step)

        self.assign_add(m, ops.multiply(ops.subtract(gradient, m), 1.0 - self.beta_1))
        self.assign(v, self._second_moment(v, gradient, m))
        if self.amsgrad:
            v_hat = self._velocity_hats[index]
            self.assign(v_hat, ops.maximum(v_hat, v))
            v = v_hat

        m_hat = ops.divide(m, ops.cast(bias_1, dtype))
        denominator = ops.add(ops.sqrt(ops.divide(v, ops.cast(bias_2, dtype))), self.epsilon)
        adaptive = ops.divide(m_hat, denominator)
        if self._rectified():
            rho_inf = 2.0 / (1.0 - self.beta_2) - 1.0
            rho_t = rho_inf - 2.0 * step * (1.0 - bias_2) / bias_2
            ratio = (rho_t - 4.0) / (rho_inf - 4.0) * (rho_t - 2.0) / (rho_inf - 2.0) * rho_inf / rho_t
            r_t = ops.cast(ops.sqrt(ops.maximum(ratio, 0.0)), dtype)
            update = ops.where(rho_t >= self.sma_threshold, ops.multiply(r_t, adaptive), m_hat)
        else:
            update = adaptive

        decay = self._decay_rate(variable)
        if decay is not None:
            update = ops.add(update, ops.multiply(ops.cast(decay, dtype), variable))
        self.assign_sub(variable, ops.multiply(ops.cast(lr, dtype), update))

    def _rectified(self) -> bool:
        return True
