"""LARS: SGD with momentum and a layer-wise trust ratio for large-batch training."""

from __future__ import annotations

import re
from collections.abc import Sequence
from typing import Any

from keras import ops

from kerasopt._keras_compat import variable_index
from kerasopt.optimizers._adaptive_base import (
    AdaptiveOptimizer,
    check_bool,
    check_float,
    check_weight_decay,
)
from kerasopt.registry import register


@register("optimizer")
class LARS(AdaptiveOptimizer):
    """Optimizer that implements LARS (layer-wise adaptive rate scaling).

    You, Gitman & Ginsburg, 2017, "Large Batch Training of Convolutional Networks"
    (arXiv:1708.03888), Section 3 and Algorithm 1. Each variable (layer weight) gets
    a local learning rate proportional to the ratio of its norm to its gradient's
    norm, so that no layer's update is large relative to its weights:

        trust = eta ||w|| / (||g|| + weight_decay ||w||)          (Eq. 6)
        v     = momentum v + lr trust (g + weight_decay w)
        w    -= v                       (or the Nesterov form with `nesterov=True`)

    Formulation choices: the trust ratio is 1 when ||w|| or ||g|| is zero (a freshly
    zero-initialized bias, a variable without gradient signal), as in TensorFlow
    Model Garden's LARS; the learning rate sits inside the momentum buffer
    (Algorithm 1, "classic momentum"); weight decay is L2 inside the update as in
    the paper, not Keras's decoupled decay. Variables whose path (e.g.
    `"dense/bias"`, `"batch_normalization/gamma"`) matches one of the regular
    expressions in `exclude_from_layer_adaptation` use trust = 1 (Model Garden's
    argument); variables excluded with `exclude_from_weight_decay()` get no decay.
    Norms are computed in float32.

    {{sparse_gradients}}

    Args:
        learning_rate: A float, a `keras.optimizers.schedules.LearningRateSchedule`,
            or a callable without arguments returning the rate. Defaults to `0.01`.
        momentum: Momentum of the update buffer, in [0, 1). Defaults to `0.9`.
        eta: The trust coefficient (Model Garden's `eeta`), > 0. Defaults to `0.001`.
        weight_decay: L2 weight decay rate inside the update, or None.
            Defaults to `None`.
        nesterov: Whether to use Nesterov momentum. Defaults to `False`.
        exclude_from_layer_adaptation: Regular expressions (searched in each
            variable's path) of variables that skip the trust ratio, or None.
            Defaults to `None`.
        epsilon: Added to the trust ratio's denominator. Defaults to `0.0`.
        {{base_optimizer_keyword_args}}

    Raises:
        ValueError: If an argument is outside its allowed range or a pattern does
            not compile.

    Example:
        ```python
        import keras
        from kerasopt.optimizers.lars import LARS

        optimizer = LARS(learning_rate=1.0, weight_decay=1e-4,
                         exclude_from_layer_adaptation=["bias", "batch_normalization"])
        optimizer.exclude_from_weight_decay(var_names=["bias", "batch_normalization"])
        model = keras.Sequential([keras.Input((4,)), keras.layers.Dense(1)])
        model.compile(optimizer=optimizer, loss="mse")
        ```
    """

    _config_keys = ("momentum", "eta", "nesterov", "exclude_from_layer_adaptation", "epsilon")
    decay_in_update_rule = True

    def __init__(
        self,
        learning_rate: float | Any = 0.01,
        momentum: float = 0.9,
        eta: float = 0.001,
        weight_decay: float | None = None,
        nesterov: bool = False,
        exclude_from_layer_adaptation: Sequence[str] | None = None,
        epsilon: float = 0.0,
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
        check_float("momentum", momentum, low=0.0, high=1.0, high_open=True)
        check_float("eta", eta, low=0.0, low_open=True)
        check_weight_decay(weight_decay)
        check_bool("nesterov", nesterov)
        check_float("epsilon", epsilon, low=0.0)
        self._exclusion = self._compile_patterns(exclude_from_layer_adaptation)
        self.momentum = momentum
        self.eta = eta
        self.nesterov = nesterov
        self.exclude_from_layer_adaptation = exclude_from_layer_adaptation
        self.epsilon = epsilon

    @staticmethod
    def _compile_patterns(patterns: Any) -> re.Pattern[str] | None:
        if patterns is None:
            return None
        if isinstance(patterns, str) or not isinstance(patterns, Sequence) or not all(
            isinstance(p, str) for p in patterns
        ):
            raise ValueError(
                "`exclude_from_layer_adaptation` must be a list of regular expressions "
                f"(e.g. ['bias', 'batch_normalization']) or None. "
                f"Received: exclude_from_layer_adaptation={patterns!r}"
            )
        try:
            return re.compile("|".join(f"(?:{p})" for p in patterns)) if patterns else None
        except re.error as err:
            raise ValueError(
                "`exclude_from_layer_adaptation` holds an invalid regular expression "
                f"({err}). Received: exclude_from_layer_adaptation={patterns!r}"
            ) from err

    def build(self, var_list: list[Any]) -> None:
        """Create one momentum buffer per variable."""
        if self.built:
            return
        super().build(var_list)
        self._momentums = self.add_optimizer_variables(var_list, "momentum")

    def _adapts(self, variable: Any) -> bool:
        """Whether the trust ratio applies to `variable` (False when excluded by path)."""
        if self._exclusion is None:
            return True
        return self._exclusion.search(getattr(variable, "path", variable.name)) is None

    def update_step(self, gradient: Any, variable: Any, learning_rate: Any) -> None:
        """Apply one LARS step to `variable`."""
        dtype = variable.dtype
        gradient = ops.cast(gradient, dtype)
        decay = self._decay_rate(variable)
        lr = ops.cast(learning_rate, "float32")
        if self._adapts(variable):
            w_norm = ops.sqrt(ops.sum(ops.square(ops.cast(variable, "float32"))))
            g_norm = ops.sqrt(ops.sum(ops.square(ops.cast(gradient, "float32"))))
            denominator = g_norm + (decay or 0.0) * w_norm + self.epsilon
            usable = ops.logical_and(w_norm > 0, g_norm > 0)
            trust = ops.where(usable, self.eta * w_norm / ops.where(usable, denominator, 1.0), 1.0)
            lr = lr * trust
        if decay is not None:
            gradient = ops.add(gradient, ops.multiply(ops.cast(decay, dtype), variable))
        scaled = ops.multiply(gradient, ops.cast(lr, dtype))

        m = self._momentums[variable_index(self, variable)]
        self.assign(m, ops.add(ops.multiply(m, self.momentum), scaled))
        if self.nesterov:
            self.assign_sub(variable, ops.add(ops.multiply(m, self.momentum), scaled))
        else:
            self.assign_sub(variable, m)
