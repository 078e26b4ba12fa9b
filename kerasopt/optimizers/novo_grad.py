"""NovoGrad: SGD with momentum over gradients normalized by a layer-wise second moment."""

from __future__ import annotations

from typing import Any

from keras import ops

from kerasopt._keras_compat import variable_index
from kerasopt.optimizers._adaptive_base import (
    AdaptiveOptimizer,
    check_bool,
    check_float,
    check_weight_decay,
    step_scalar,
)
from kerasopt.registry import register


@register("optimizer")
class NovoGrad(AdaptiveOptimizer):
    """Optimizer that implements NovoGrad.

    Ginsburg et al., 2019, "Stochastic Gradient Methods with Layer-wise Adaptive
    Moments for Training of Deep Networks" (arXiv:1905.11286), Algorithm 1. The
    second moment is one scalar per variable (per layer weight), the EMA of the
    squared gradient norm; the gradient is divided by its square root before it
    enters a momentum buffer, and weight decay is added to the normalized gradient
    inside the moment (Section 3):

        v_t = beta_2 v + (1 - beta_2) ||g||^2          (v_1 = ||g_1||^2)
        m_t = beta_1 m + c_t (g / (sqrt(v_t) + epsilon) + weight_decay w)
        w  -= lr m_t

    with c_t = 1 - beta_1 when `grad_averaging` (c_1 = 1) and c_t = 1 otherwise.

    Formulation choices (those of TF Addons' `NovoGrad`, whose argument names and
    defaults are kept): epsilon outside the square root; no bias correction (the
    first second moment is ||g_1||^2 itself and the first momentum the first
    normalized gradient, as in the paper); `amsgrad` normalizes by the running
    maximum of v_t; ||g||^2 is summed in float32 whatever the variable dtype.
    `weight_decay` is the paper's d, inside the moment, not Keras's decoupled decay;
    variables excluded with `exclude_from_weight_decay()` get none.

    {{sparse_gradients}}

    Args:
        learning_rate: A float, a `keras.optimizers.schedules.LearningRateSchedule`,
            or a callable without arguments returning the rate. Defaults to `0.001`.
        beta_1: Momentum of the first moment, in [0, 1). Defaults to `0.9`.
        beta_2: Decay rate of the layer-wise second moment, in [0, 1).
            Defaults to `0.999`.
        epsilon: Added to sqrt(v_t). Defaults to `1e-7`.
        weight_decay: The paper's weight decay d inside the moment, or None.
            Defaults to `None`.
        grad_averaging: Whether to scale the normalized gradient by (1 - beta_1)
            (Adam-style averaging). Defaults to `False`.
        amsgrad: Whether to normalize by the running maximum of v_t.
            Defaults to `False`.
        {{base_optimizer_keyword_args}}

    Raises:
        ValueError: If an argument is outside its allowed range.

    Example:
        ```python
        import keras
        from kerasopt.optimizers.novo_grad import NovoGrad

        model = keras.Sequential([keras.Input((4,)), keras.layers.Dense(1)])
        model.compile(optimizer=NovoGrad(learning_rate=0.01, weight_decay=1e-3), loss="mse")
        ```
    """

    _config_keys = ("beta_1", "beta_2", "epsilon", "grad_averaging", "amsgrad")
    decay_in_update_rule = True

    def __init__(
        self,
        learning_rate: float | Any = 0.001,
        beta_1: float = 0.9,
        beta_2: float = 0.999,
        epsilon: float = 1e-7,
        weight_decay: float | None = None,
        grad_averaging: bool = False,
        amsgrad: bool = False,
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
        check_float("beta_2", beta_2, low=0.0, high=1.0, high_open=True)
        check_float("epsilon", epsilon, low=0.0)
        check_weight_decay(weight_decay)
        check_bool("grad_averaging", grad_averaging)
        check_bool("amsgrad", amsgrad)
        self.beta_1 = beta_1
        self.beta_2 = beta_2
        self.epsilon = epsilon
        self.grad_averaging = grad_averaging
        self.amsgrad = amsgrad

    def build(self, var_list: list[Any]) -> None:
        """Create the momentum buffers and the scalar second moment of each variable."""
        if self.built:
            return
        super().build(var_list)
        self._momentums = self.add_optimizer_variables(var_list, "momentum")
        self._norms = [self._scalar_slot(v, "norm") for v in var_list]
        if self.amsgrad:
            self._norm_maxima = [self._scalar_slot(v, "norm_max") for v in var_list]

    def _scalar_slot(self, variable: Any, label: str) -> Any:
        # Named like Keras's per-variable slots: from the path of a Keras variable, from
        # the name of a backend variable (a raw tf.Variable has no `path`).
        reference = getattr(variable, "path", None) or str(variable.name).replace(":", "_")
        name = f"{reference.replace('/', '_')}_{label}"
        return self.add_variable(shape=(), dtype="float32", name=name)

    def update_step(self, gradient: Any, variable: Any, learning_rate: Any) -> None:
        """Apply one NovoGrad step to `variable`."""
        dtype = variable.dtype
        index = variable_index(self, variable)
        first = ops.equal(self.iterations, 0)

        v = self._norms[index]
        norm_sq = ops.sum(ops.square(ops.cast(gradient, "float32")))
        self.assign(v, ops.where(first, norm_sq, v * self.beta_2 + norm_sq * (1.0 - self.beta_2)))
        if self.amsgrad:
            v_max = self._norm_maxima[index]
            self.assign(v_max, ops.maximum(v_max, v))
            v = v_max
        scale = ops.cast(1.0 / (ops.sqrt(v) + self.epsilon), dtype)
        normalized = ops.multiply(ops.cast(gradient, dtype), scale)

        decay = self._decay_rate(variable)
        if decay is not None:
            normalized = ops.add(normalized, ops.multiply(ops.cast(decay, dtype), variable))
        if self.grad_averaging:
            averaging = ops.where(first, 1.0, 1.0 - self.beta_1)
            normalized = ops.multiply(normalized, ops.cast(averaging, dtype))

        m = self._momentums[index]
        self.assign(m, ops.add(ops.multiply(m, self.beta_1), normalized))
        self.assign_sub(variable, ops.multiply(ops.cast(step_scalar(learning_rate), dtype), m))
