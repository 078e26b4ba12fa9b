"""Sharpness-Aware Minimization (Foret et al., 2021) and its adaptive form ASAM (Kwon et al., 2021)."""

from __future__ import annotations

from typing import Any

from keras import ops

from kerasopt._backend import require_tensorflow
from kerasopt._keras_compat import iterations_variable
from kerasopt._replicas import sum_over_replicas
from kerasopt.optimizers._sparse import densify
from kerasopt.optimizers._wrapper import OptimizerWrapper, closure_required_error
from kerasopt.registry import register


@register("optimizer", aliases=["sam", "asam", "sharpness_aware_minimization"])
class SAM(OptimizerWrapper):
    """Wraps any optimizer with Sharpness-Aware Minimization (SAM) or adaptive SAM (ASAM).

    Implements Algorithm 1 of Foret, Kleiner, Mobahi and Neyshabur, "Sharpness-Aware
    Minimization for Efficiently Improving Generalization" (ICLR 2021). Each step computes
    the gradient `g` at the weights `w`, moves to the worst case in a ball of radius `rho`
    (Section 2, eq. (2) with p = 2),

        e = rho * g / (||g||_2 + eps)          (||.||_2 over all trained variables together)

    computes the gradient `g'` at `w + e` on the same batch, restores `w` and lets the
    inner optimizer apply `g'`. With `adaptive=True` it is ASAM, Kwon, Kim, Park and Choi,
    "ASAM: Adaptive Sharpness-Aware Minimization" (ICML 2021), eq. (9) with the
    normalization operator `T_w = |w|` (element-wise, no offset):

        e = rho * w^2 * g / (||(|w| * g)||_2 + eps)

    Kwon et al. suggest a larger `rho` (about 0.5 to 2) for ASAM. `eps` is added to the norm
    (not inside the square root). Under a distribution strategy the ascent step uses the
    gradient summed over replicas (the global batch's, as on one device), not each
    replica's share (which would be the paper's m-sharpness, Section 4.1). Layers in
    training mode run twice per step: batch-norm moving statistics are updated only by the
    first pass (at `w`); random layers (dropout) draw new masks in the second pass.

    SAM needs that second gradient, which Keras's stock train step cannot provide: call
    `kerasopt.training.enable_closure(model)` before `fit` (or, in a custom loop,
    `apply_with_closure`). Used with the stock step, the first step raises a `ValueError`.

    Args:
        optimizer: The inner optimizer (applies `g'`): a `keras.optimizers.Optimizer`, a
            registered name, a recipe spec or a Keras serialized config.
        rho: Radius of the neighbourhood, a number > 0. Defaults to `0.05`.
        adaptive: Whether to use ASAM's scale-invariant perturbation. Defaults to `False`.
        eps: Added to the gradient norm, a number > 0. Defaults to `1e-12`.
        name: Name of the optimizer. Defaults to `None` (an automatic name).

    Raises:
        ValueError: If an argument is out of range, `optimizer` cannot be resolved or itself
            needs a closure.
        UnsupportedBackendError: (a ValueError) Under a Keras backend other than TensorFlow;
            see `kerasopt._backend.TENSORFLOW_ONLY`.

    Example:
        ```python
        model.compile(optimizer=SAM(keras.optimizers.SGD(0.1, momentum=0.9)), loss="mse")
        kerasopt.training.enable_closure(model)
        model.fit(x, y)
        ```
    """

    requires_closure = True

    def __init__(
        self,
        optimizer: Any,
        rho: float = 0.05,
        adaptive: bool = False,
        eps: float = 1e-12,
        name: str | None = None,
    ) -> None:
        require_tensorflow("kerasopt.optimizers.SAM")
        if isinstance(rho, bool) or not isinstance(rho, (int, float)) or not rho > 0:
            raise ValueError(f"`rho` must be a number > 0. Received: rho={rho!r}")
        if not isinstance(adaptive, bool):
            raise ValueError(f"`adaptive` must be True or False. Received: adaptive={adaptive!r}")
        if isinstance(eps, bool) or not isinstance(eps, (int, float)) or not eps > 0:
            raise ValueError(f"`eps` must be a number > 0. Received: eps={eps!r}")
        super().__init__(optimizer, name=name)
        if getattr(self.inner_optimizer, "requires_closure", False):
            raise ValueError(
                "SAM's inner optimizer must take plain gradients; "
                f"{type(self.inner_optimizer).__name__} needs a closure itself. "
                f"Received: optimizer={optimizer!r}"
            )
        self.rho = rho
        self.adaptive = adaptive
        self.eps = eps

    def apply(self, grads: Any, trainable_variables: Any = None) -> None:
        raise closure_required_error(self, "a second gradient at perturbed weights")

    def perturbations(self, grads: list[Any], variables: list[Any]) -> list[Any]:
        """The ascent step `e` for each variable (None where the gradient is None).

        Args:
            grads: Gradients at the current weights.
            variables: The matching variables.

        Returns:
            One perturbation (or None) per variable.
        """
        scaled = [
            None if g is None else (ops.abs(v) * g if self.adaptive else g)
            for g, v in zip(grads, variables, strict=True)
        ]
        squares = [ops.sum(ops.square(ops.cast(s, "float32"))) for s in scaled if s is not None]
        if not squares:
            return [None] * len(grads)
        norm = ops.sqrt(ops.sum(ops.stack(squares)))
        factor = self.rho / (norm + self.eps)
        result = []
        for g, v in zip(grads, variables, strict=True):
            if g is None:
                result.append(None)
                continue
            direction = ops.square(v) * g if self.adaptive else g
            result.append(direction * ops.cast(factor, direction.dtype))
        return result

    def apply_with_closure(self, closure: Any, trainable_variables: Any) -> None:
        variables = self._ready(trainable_variables)
        _, grads = closure()
        grads = sum_over_replicas([densify(g) for g in grads])  # the global batch's gradient
        steps = self.perturbations(grads, variables)
        backups = [ops.copy(v) for v in variables]  # snapshots (not aliases) of w
        for variable, backup, step in zip(variables, backups, steps, strict=True):
            if step is not None:
                variable.assign(backup + ops.cast(step, variable.dtype))
        _, sharp_grads = closure()
        for variable, backup, step in zip(variables, backups, steps, strict=True):
            if step is not None:
                variable.assign(backup)
        self.inner_optimizer.apply(list(sharp_grads), variables)
        iterations_variable(self).assign_add(1)

    def get_config(self) -> dict[str, Any]:
        config = super().get_config()
        config.update({"rho": self.rho, "adaptive": self.adaptive, "eps": self.eps})
        return config
