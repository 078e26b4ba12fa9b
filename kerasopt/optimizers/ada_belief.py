"""AdaBelief: Adam whose step size follows the belief in the observed gradient."""

from __future__ import annotations

from typing import Any

from keras import ops

from kerasopt.optimizers._adaptive_base import check_bool
from kerasopt.optimizers._rectified import RectifiedMomentOptimizer
from kerasopt.registry import register


@register("optimizer")
class AdaBelief(RectifiedMomentOptimizer):
    """Optimizer that implements AdaBelief.

    Zhuang et al., 2020, "AdaBelief Optimizer: Adapting Stepsizes by the Belief in
    Observed Gradients" (NeurIPS 2020, arXiv:2010.07468), Algorithm 2. Where Adam
    divides by the EMA of g^2, AdaBelief divides by the EMA of (g - m)^2, the squared
    distance between the gradient and its prediction: a gradient close to the
    momentum ("believed") gets a large step, a surprising one a small step.

    Formulation choices (those of the authors' TensorFlow package `adabelief_tf`
    0.2, whose argument names and defaults are kept):

    - s_t = beta_2 s + (1 - beta_2) (g - m_t)^2 + epsilon: epsilon is added inside
      s_t at every step, as in Algorithm 2 of the paper, and again to sqrt(s_hat) in
      the denominator, m_hat / (sqrt(s_hat) + epsilon);
    - both moments are bias-corrected (1 - beta^t), as in Algorithm 2;
    - `rectify=True` (the package default) applies RAdam's rectification
      (Liu et al., 2019): the adaptive step times r_t while rho_t >= `sma_threshold`,
      the bias-corrected momentum step m_hat before; `rectify=False` is the paper's
      plain Algorithm 2;
    - `amsgrad` divides by the running maximum of s_t (Algorithm 2's optional line);
    - `weight_decay` is decoupled and applied inside the step,
      w -= lr (update + weight_decay w) (the paper's "weight_decouple" option);
    - optional warmup-then-decay of the learning rate with `total_steps`,
      `warmup_proportion` and `min_lr`, as in `adabelief_tf` and TF Addons' RAdam.

    {{sparse_gradients}}

    Args:
        learning_rate: A float, a `keras.optimizers.schedules.LearningRateSchedule`,
            or a callable without arguments returning the rate. Defaults to `0.001`.
        beta_1: Decay rate of the first moment, in [0, 1). Defaults to `0.9`.
        beta_2: Decay rate of the second moment, in (0, 1). Defaults to `0.999`.
        epsilon: Added inside s_t and to sqrt(s_hat). The authors recommend 1e-16 for
            Adam-like tasks and 1e-8 where SGD does better. Defaults to `1e-14`.
        rectify: Whether to apply RAdam's rectification. Defaults to `True`.
        amsgrad: Whether to divide by the running maximum of s_t. Defaults to `False`.
        sma_threshold: The rho_t from which the rectified adaptive step is taken.
            Defaults to `5.0`.
        total_steps: Total training steps of the warmup-then-decay learning rate;
            0 disables it. Defaults to `0`.
        warmup_proportion: Fraction of `total_steps` spent warming up, in [0, 1].
            Defaults to `0.1`.
        min_lr: Learning rate reached at `total_steps`. Defaults to `0.0`.
        weight_decay: Decoupled weight decay rate inside the step: a number, a
            `keras.optimizers.schedules.LearningRateSchedule` or a callable of the step
            (evaluated at the step a learning-rate schedule sees, 0 at the first
            update), or None. Defaults to `None`.
        {{base_optimizer_keyword_args}}

    Raises:
        ValueError: If an argument is outside its allowed range.

    Example:
        ```python
        import keras
        from kerasopt.optimizers.ada_belief import AdaBelief

        model = keras.Sequential([keras.Input((4,)), keras.layers.Dense(1)])
        model.compile(optimizer=AdaBelief(epsilon=1e-16, rectify=False), loss="mse")
        ```
    """

    _config_keys = (
        "beta_1", "beta_2", "epsilon", "rectify", "amsgrad", "sma_threshold",
        "total_steps", "warmup_proportion", "min_lr",
    )

    def __init__(
        self,
        learning_rate: float | Any = 0.001,
        beta_1: float = 0.9,
        beta_2: float = 0.999,
        epsilon: float = 1e-14,
        rectify: bool = True,
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
        check_bool("rectify", rectify)
        self.rectify = rectify
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

    def _rectified(self) -> bool:
        return self.rectify

    def _second_moment(self, v: Any, gradient: Any, m: Any) -> Any:
        """The belief: beta_2 s + (1 - beta_2) (g - m_t)^2 + epsilon."""
        surprise = ops.square(ops.subtract(gradient, m))
        new = ops.add(v, ops.multiply(ops.subtract(surprise, v), 1.0 - self.beta_2))
        return ops.add(new, self.epsilon)
