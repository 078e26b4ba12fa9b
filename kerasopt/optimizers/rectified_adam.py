"""Rectified Adam (RAdam): Adam whose adaptive step is rectified for its variance."""

from __future__ import annotations

from typing import Any

from keras import ops

from kerasopt.optimizers._rectified import RectifiedMomentOptimizer
from kerasopt.registry import register


@register("optimizer", aliases=["RAdam"])
class RectifiedAdam(RectifiedMomentOptimizer):
    """Optimizer that implements Rectified Adam (RAdam).

    Liu et al., 2019, "On the Variance of the Adaptive Learning Rate and Beyond"
    (arXiv:1908.03265), Algorithm 2. Early in training the variance of Adam's adaptive
    learning rate is large; RAdam multiplies the adaptive step by the rectification
    term r_t and, while the approximated length of the simple moving average rho_t is
    too short, takes a plain momentum step instead.

    Formulation choices (those of TF Addons' `RectifiedAdam`, kept for users moving
    from `tfa.optimizers.RectifiedAdam`):

    - moments: m_t = beta_1 m + (1 - beta_1) g, v_t = beta_2 v + (1 - beta_2) g^2,
      bias-corrected as m_hat = m_t / (1 - beta_1^t), v_hat = v_t / (1 - beta_2^t);
    - epsilon outside the square root: r_t m_hat / (sqrt(v_hat) + epsilon);
    - threshold: the adaptive step is used while rho_t >= `sma_threshold` (5 in the
      authors' code and TF Addons; Algorithm 2 of the paper uses rho_t > 4); otherwise
      the step is the bias-corrected momentum m_hat;
    - `weight_decay` is applied inside the step, w -= lr (update + weight_decay w),
      with the warmed-up learning rate (as TF Addons does); variables excluded with
      `exclude_from_weight_decay()` are not decayed;
    - optional warmup: with `total_steps > 0` the learning rate rises linearly from 0
      over `total_steps * warmup_proportion` steps, then falls linearly to `min_lr`
      at `total_steps` (it multiplies whatever `learning_rate` gives, schedules too).

    {{sparse_gradients}}

    Args:
        learning_rate: A float, a `keras.optimizers.schedules.LearningRateSchedule`,
            or a callable without arguments returning the rate. Defaults to `0.001`.
        beta_1: Decay rate of the first moment, in [0, 1). Defaults to `0.9`.
        beta_2: Decay rate of the second moment, in (0, 1). Defaults to `0.999`.
        epsilon: Added to sqrt(v_hat) in the denominator. Defaults to `1e-7`.
        amsgrad: Whether to divide by the running maximum of v (Reddi et al., 2018;
            not in the RAdam paper). Defaults to `False`.
        sma_threshold: The rho_t from which the rectified adaptive step is taken.
            Defaults to `5.0`.
        total_steps: Total training steps of the warmup-then-decay learning rate;
            0 disables it. Defaults to `0`.
        warmup_proportion: Fraction of `total_steps` spent warming up, in [0, 1].
            Defaults to `0.1`.
        min_lr: Learning rate reached at `total_steps`. Defaults to `0.0`.
        weight_decay: Weight decay rate inside the step: a number, a
            `keras.optimizers.schedules.LearningRateSchedule` or a callable of the step
            (evaluated at the step a learning-rate schedule sees, 0 at the first
            update), or None. Defaults to `None`.
        {{base_optimizer_keyword_args}}

    Raises:
        ValueError: If an argument is outside its allowed range.

    Example:
        ```python
        import keras
        from kerasopt.optimizers.rectified_adam import RectifiedAdam

        model = keras.Sequential([keras.Input((4,)), keras.layers.Dense(1)])
        model.compile(optimizer=RectifiedAdam(learning_rate=1e-3), loss="mse")
        ```
    """

    def __init__(
        self,
        learning_rate: float | Any = 0.001,
        beta_1: float = 0.9,
        beta_2: float = 0.999,
        epsilon: float = 1e-7,
        amsgrad: bool = False,
        sma_threshold: float = 5.0,
        total_steps: int = 0,
        warmup_proportion: float = 0.1,
        min_lr: float = 0.0,
        weight_decay: float | Any | None = None,
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
        self._set_rectified_args(
            beta_1=beta_1,
            beta_2=beta_2,
            epsilon=epsilon,
            amsgrad=amsgrad,
            sma_threshold=sma_threshold,
            total_steps=total_steps,
            warmup_proportion=warmup_proportion,
            min_lr=min_lr,
            weight_decay=weight_decay,
        )

    _config_keys = (
        "beta_1", "beta_2", "epsilon", "amsgrad", "sma_threshold",
        "total_steps", "warmup_proportion", "min_lr",
    )

    def _second_moment(self, v: Any, gradient: Any, m: Any) -> Any:
        """Adam's second moment: beta_2 v + (1 - beta_2) g^2."""
        return ops.add(v, ops.multiply(ops.subtract(ops.square(gradient), v), 1.0 - self.beta_2))
