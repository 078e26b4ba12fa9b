"""AdaHessian: Adam with the Hessian diagonal in place of squared gradients (Yao et al., 2020)."""

from __future__ import annotations

from typing import Any

import keras
from keras import ops

from kerasopt._backend import require_tensorflow
from kerasopt._keras_compat import ReplicaClipHook, built_variables, variable_index
from kerasopt._replicas import sum_over_replicas
from kerasopt.optimizers._adaptive_base import check_learning_rate
from kerasopt.optimizers._sparse import densify
from kerasopt.optimizers._wrapper import closure_required_error
from kerasopt.registry import register


@register("optimizer", aliases=["adahessian", "ada_hessian"])
class AdaHessian(ReplicaClipHook, keras.optimizers.Optimizer):
    """Second-order optimizer with a Hutchinson estimate of the Hessian diagonal.

    Implements Algorithm 1 of Yao, Gholami, Shen, Mustafa, Keutzer and Mahoney, "ADAHESSIAN:
    An Adaptive Second Order Optimizer for Machine Learning" (AAAI 2021, arXiv 2006.00719):

        D    = |z * (H z)|,  z Rademacher            (Hutchinson, Section 3.1, eq. (6))
        D_s  = D averaged over the spatial axes of conv kernels      (Section 3.2, eq. (8))
        m_t  = beta_1 m_{t-1} + (1 - beta_1) g_t
        v_t  = beta_2 v_{t-1} + (1 - beta_2) D_s * D_s                      (eq. (9))
        w_t  = w_{t-1} - lr * (m_t / (1 - beta_1^t)) /
                         ((sqrt(v_t / (1 - beta_2^t)))^hessian_power + epsilon)   (eq. (10))

    Formulation choices: one Rademacher sample per step; the absolute value is taken before
    spatial averaging, and `epsilon` is added outside the power, as in the authors' released
    implementation; both moments start at zero with Adam's bias corrections (eq. (10));
    weight decay is decoupled (AdamW style, `w -= lr * weight_decay * w`), as in the released
    code. Spatial averaging uses all kernel axes but the last two (Keras kernels are
    `(k..., in, out)`), so it covers Conv1D/2D/3D; Dense kernels and vectors are untouched.
    The Hessian-vector product `H z` comes from double back-propagation through
    `kerasopt.training.enable_closure` (TensorFlow backend): the stock train step cannot
    provide it, so a plain `apply` raises a `ValueError` naming the fix.

    Gradient accumulation is not supported (the Hessian diagonal would not be accumulated).
    Under a distribution strategy every replica draws the same probe `z`, and `H z` is
    summed over replicas before the diagonal is taken, so the step is the one-device step
    on the global batch.

    Args:
        learning_rate: A float, a `keras.optimizers.schedules.LearningRateSchedule` or a
            callable. Defaults to `0.15`.
        beta_1: Decay of the first moment, in [0, 1). Defaults to `0.9`.
        beta_2: Decay of the Hessian-diagonal second moment, in [0, 1). Defaults to `0.999`.
        epsilon: Added to the denominator, >= 0. Defaults to `1e-4`.
        hessian_power: Exponent `k` of the Hessian term, in [0, 1]. Defaults to `1.0`.
        spatial_averaging: Whether to average the diagonal over conv-kernel spatial axes.
            Defaults to `True`.
        seed: Seed of the Rademacher draws (an integer), or None for a random seed.
            Defaults to `None`.
        weight_decay: Decoupled weight decay. Defaults to `None`.
        clipnorm: See `keras.optimizers.Optimizer` (clips `g`, not `D`). Defaults to `None`.
        clipvalue: See `keras.optimizers.Optimizer`. Defaults to `None`.
        global_clipnorm: See `keras.optimizers.Optimizer`. Defaults to `None`.
        use_ema: See `keras.optimizers.Optimizer`. Defaults to `False`.
        ema_momentum: See `keras.optimizers.Optimizer`. Defaults to `0.99`.
        ema_overwrite_frequency: See `keras.optimizers.Optimizer`. Defaults to `None`.
        loss_scale_factor: See `keras.optimizers.Optimizer`. Defaults to `None`.
        gradient_accumulation_steps: Must stay `None`. Defaults to `None`.
        name: Name of the optimizer. Defaults to `"adahessian"`.
        **kwargs: Passed to `keras.optimizers.Optimizer`.

    Raises:
        ValueError: If a hyperparameter is out of range.
        UnsupportedBackendError: (a ValueError) Under a Keras backend other than TensorFlow;
            see `kerasopt._backend.TENSORFLOW_ONLY`.

    Example:
        ```python
        model.compile(optimizer=AdaHessian(learning_rate=0.1), loss="mse")
        kerasopt.training.enable_closure(model)
        model.fit(x, y)
        ```
    """

    requires_closure = True

    def __init__(
        self,
        learning_rate: Any = 0.15,
        beta_1: float = 0.9,
        beta_2: float = 0.999,
        epsilon: float = 1e-4,
        hessian_power: float = 1.0,
        spatial_averaging: bool = True,
        seed: int | None = None,
        weight_decay: float | None = None,
        clipnorm: float | None = None,
        clipvalue: float | None = None,
        global_clipnorm: float | None = None,
        use_ema: bool = False,
        ema_momentum: float = 0.99,
        ema_overwrite_frequency: int | None = None,
        loss_scale_factor: float | None = None,
        gradient_accumulation_steps: int | None = None,
        name: str = "adahessian",
        **kwargs: Any,
    ) -> None:
        require_tensorflow("kerasopt.optimizers.AdaHessian")
        for arg, value in (("beta_1", beta_1), ("beta_2", beta_2)):
            if isinstance(value, bool) or not isinstance(value, (int, float)) or not 0 <= value < 1:
                raise ValueError(f"`{arg}` must be a number in [0, 1). Received: {arg}={value!r}")
        if isinstance(epsilon, bool) or not isinstance(epsilon, (int, float)) or epsilon < 0:
            raise ValueError(f"`epsilon` must be a number >= 0. Received: epsilon={epsilon!r}")
        if (isinstance(hessian_power, bool) or not isinstance(hessian_power, (int, float))
                or not 0 <= hessian_power <= 1):
            raise ValueError(
                f"`hessian_power` must be a number in [0, 1]. Received: hessian_power={hessian_power!r}"
            )
        if not isinstance(spatial_averaging, bool):
            raise ValueError(
                "`spatial_averaging` must be True or False. "
                f"Received: spatial_averaging={spatial_averaging!r}"
            )
        if seed is not None and (isinstance(seed, bool) or not isinstance(seed, int)):
            raise ValueError(f"`seed` must be an integer or None. Received: seed={seed!r}")
        check_learning_rate(learning_rate, "AdaHessian")
        if gradient_accumulation_steps is not None:
            raise ValueError(
                "AdaHessian does not support gradient accumulation (the Hessian diagonal is "
                "not accumulated). Received: "
                f"gradient_accumulation_steps={gradient_accumulation_steps!r}"
            )
        super().__init__(
            learning_rate=learning_rate, name=name, weight_decay=weight_decay,
            clipnorm=clipnorm, clipvalue=clipvalue, global_clipnorm=global_clipnorm,
            use_ema=use_ema, ema_momentum=ema_momentum,
            ema_overwrite_frequency=ema_overwrite_frequency,
            loss_scale_factor=loss_scale_factor,
            gradient_accumulation_steps=gradient_accumulation_steps, **kwargs,
        )
        self.beta_1 = beta_1
        self.beta_2 = beta_2
        self.epsilon = epsilon
        self.hessian_power = hessian_power
        self.spatial_averaging = spatial_averaging
        self.seed = seed
        self._seed_generator = keras.random.SeedGenerator(seed)
        self._hessian_diagonals: list[Any] | None = None

    def build(self, var_list: list[Any]) -> None:
        if self.built:
            return
        super().build(var_list)
        self._momentums, self._hessian_moments = self.add_optimizer_variables(
            var_list, ["momentum", "hessian_moment"]
        )

    def rademacher(self, variable: Any) -> Any:
        """A draw of +1/-1 entries with the shape and dtype of `variable`."""
        bits = keras.random.randint(variable.shape, 0, 2, seed=self._seed_generator)
        return ops.cast(bits * 2 - 1, variable.dtype)

    def hessian_diagonal(self, probe: Any, hvp: Any) -> Any:
        """Hutchinson's estimate `|z * (H z)|`, spatially averaged for conv kernels."""
        diagonal = ops.abs(probe * hvp)
        rank = len(diagonal.shape)
        if self.spatial_averaging and rank >= 3:
            mean = ops.mean(diagonal, axis=tuple(range(rank - 2)), keepdims=True)
            diagonal = ops.broadcast_to(mean, diagonal.shape)
        return diagonal

    def apply(self, grads: Any, trainable_variables: Any = None) -> Any:
        if self._hessian_diagonals is None:
            raise closure_required_error(self, "a Hessian-vector product")
        return super().apply(grads, trainable_variables)

    def apply_with_closure(self, closure: Any, trainable_variables: Any) -> None:
        """Draw Rademacher probes, get gradients and `H z` from `closure`, then update.

        Args:
            closure: A `kerasopt.training.closure.Closure` bound to the current batch.
            trainable_variables: The variables to update.
        """
        variables = list(trainable_variables)
        if not self.built:
            with keras.name_scope(self.name, caller=self):
                self.build(variables)
        probes = [self.rademacher(v) for v in variables]
        _, grads, hvps = closure.hessian_vector_product(probes)
        # Under a distribution strategy each replica holds its share of `H z`; the
        # diagonal |z * H z| is not linear in it, so sum first (Keras sums `grads`).
        hvps = sum_over_replicas([densify(h) for h in hvps])
        scale = 1.0 if self.loss_scale_factor is None else self.loss_scale_factor
        diagonals = [None] * len(built_variables(self))
        for variable, probe, hvp in zip(variables, probes, hvps, strict=True):
            diagonals[variable_index(self, variable)] = self.hessian_diagonal(
                probe, hvp / scale)
        self._hessian_diagonals = tuple(diagonals)
        try:
            super().apply([densify(g) for g in grads], variables)
        finally:
            self._hessian_diagonals = None

    def update_step(self, gradient: Any, variable: Any, learning_rate: Any) -> None:
        index = variable_index(self, variable)
        diagonal = ops.cast(self._hessian_diagonals[index], variable.dtype)
        lr = ops.cast(learning_rate, variable.dtype)
        gradient = ops.cast(gradient, variable.dtype)
        step = ops.cast(self.iterations + 1, variable.dtype)
        correction_1 = 1 - ops.power(ops.cast(self.beta_1, variable.dtype), step)
        correction_2 = 1 - ops.power(ops.cast(self.beta_2, variable.dtype), step)
        m = self._momentums[index]
        v = self._hessian_moments[index]
        self.assign_add(m, (gradient - m) * (1 - self.beta_1))
        self.assign_add(v, (ops.square(diagonal) - v) * (1 - self.beta_2))
        denominator = ops.power(ops.sqrt(v / correction_2), self.hessian_power) + self.epsilon
        self.assign_sub(variable, lr * (m / correction_1) / denominator)

    def get_config(self) -> dict[str, Any]:
        config = super().get_config()
        config.update({
            "beta_1": self.beta_1, "beta_2": self.beta_2, "epsilon": self.epsilon,
            "hessian_power": self.hessian_power, "spatial_averaging": self.spatial_averaging,
            "seed": self.seed,
        })
        return config
