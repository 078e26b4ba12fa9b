"""Nonlinear conjugate gradient with a strong-Wolfe line search, for full-batch `model.fit`."""

from __future__ import annotations

from typing import Any

from keras import ops

from kerasopt._backend import require_tensorflow
from kerasopt.optimizers._line_search_optimizer import LineSearchOptimizer
from kerasopt.registry import register

METHODS = ("polak_ribiere_plus", "fletcher_reeves")


@register("optimizer", aliases=["CG", "nonlinear_cg"])
class ConjugateGradient(LineSearchOptimizer):
    """Nonlinear conjugate gradient (Nocedal & Wright, *Numerical Optimization*, Section 5.2).

    The direction is `d_k = -g_k + beta_k d_{k-1}` with

    - `"fletcher_reeves"`: `beta = g_k^T g_k / g_{k-1}^T g_{k-1}` (N&W eq. 5.41a);
    - `"polak_ribiere_plus"`: `beta = max(0, g_k^T (g_k - g_{k-1}) / g_{k-1}^T g_{k-1})`
      (eq. 5.44 with the `max(0, .)` of eq. 5.45), which restarts by itself when
      progress stalls.

    The method restarts with `d = -g` whenever `d` is not a descent direction, and after
    a line search that found no decrease. Steps come from a strong-Wolfe line search
    (N&W Algorithms 3.5 and 3.6) run as a state machine across train steps: each `fit`
    step evaluates the loss and gradient once, at the current trial point. The first trial
    step is `learning_rate * min(1, 1 / ||g||)` for the first iteration, and then
    `alpha_{k-1} g_{k-1}^T d_{k-1} / g_k^T d_k` (N&W eq. 3.60). `c2` defaults to 0.1, the
    value N&W (Section 5.2) recommend for nonlinear CG; Fletcher-Reeves needs
    `c2 < 1/2` to guarantee descent directions (N&W Lemma 5.6). On a strictly convex
    quadratic with (near-)exact line searches both variants reduce to linear CG and finish
    in at most `n` iterations.

    Use it with the whole data set as one batch, `model.fit(x, y, batch_size=len(x))`:
    every step must see the same function. All trainable variables form one vector. A
    full-batch check compares the loss at an unchanged point (once at the start and every
    `full_batch_check` iterations, at the cost of one evaluation each); when it changed, the
    batches differ or the model is stochastic, and `fit` warns at its end. At the end of
    `fit` the weights are moved from the last trial point back to the best point found.
    A custom training loop must call `optimizer.scale_loss(loss)` inside its gradient tape,
    as Keras's train step does (TensorFlow and PyTorch trainers; not the JAX trainer).

    Args:
        method: `"polak_ribiere_plus"` or `"fletcher_reeves"`. Defaults to
            `"polak_ribiere_plus"`.
        learning_rate: Factor on the first trial step of the first line search (float or
            schedule). Defaults to `1.0`.
        max_line_search_steps: Function evaluations allowed per line search. Defaults to `25`.
        c1: Sufficient-decrease constant of the Wolfe conditions. Defaults to `1e-4`.
        c2: Curvature constant, `c1 < c2 < 1`. Defaults to `0.1`.
        tolerance_grad: Converged when `max|g| <=` this. Defaults to `1e-7`.
        tolerance_change: Converged when an accepted step changes the loss, or any
            parameter, by less than this; also the smallest line-search bracket.
            Defaults to `1e-9`.
        full_batch_check: Re-evaluate the loss at the unchanged point at the start and
            every this many iterations (0 turns the extra evaluations off). Defaults to `20`.
        name: Optimizer name. Defaults to `"conjugate_gradient"`.
        **kwargs: Other Keras optimizer arguments (`use_ema`, `loss_scale_factor`, ...).
            `weight_decay`, `clipnorm`, `clipvalue`, `global_clipnorm` and
            `gradient_accumulation_steps` change the function or the gradient between steps
            and raise a `ValueError`.

    Raises:
        ValueError: If an argument is out of range or unsupported.
        UnsupportedBackendError: (a ValueError) Under a Keras backend other than TensorFlow;
            see `kerasopt._backend.TENSORFLOW_ONLY`.

    Example:
        ```python
        model.compile(optimizer=ConjugateGradient(method="fletcher_reeves"), loss="mse")
        model.fit(x, y, batch_size=len(x), epochs=50, shuffle=False)
        ```
    """

    def __init__(self, method: str = "polak_ribiere_plus", learning_rate: Any = 1.0,
                 max_line_search_steps: int = 25, c1: float = 1e-4, c2: float = 0.1,
                 tolerance_grad: float = 1e-7, tolerance_change: float = 1e-9,
                 full_batch_check: int = 20, name: str | None = "conjugate_gradient",
                 **kwargs: Any) -> None:
        require_tensorflow("kerasopt.optimizers.ConjugateGradient")
        if method not in METHODS:
            raise ValueError(
                f"`method` must be one of {', '.join(repr(m) for m in METHODS)}. "
                f"Received: method={method!r}"
            )
        super().__init__(learning_rate, max_line_search_steps, c1, c2, tolerance_grad,
                         tolerance_change, full_batch_check, name, **kwargs)
        self.method = method

    def _direction(self, g: Any, s: Any, y: Any, update: Any, reset: Any) -> tuple[Any, Any]:
        g_old = ops.convert_to_tensor(self._g)
        denominator = ops.sum(g_old * g_old)
        if self.method == "fletcher_reeves":
            beta = ops.sum(g * g) / denominator
        else:
            beta = ops.maximum(ops.sum(g * y) / denominator, 0.0)
        use = update & ~reset & ops.isfinite(beta)
        beta = ops.where(use, beta, 0.0)
        return -g + beta * ops.convert_to_tensor(self._d), ops.equal(beta, 0.0)

    def _initial_step(self, dphi0: Any, first: Any, steepest: Any, lr: Any,
                      previous: tuple[Any, Any]) -> Any:
        alpha_prev, dphi_prev = previous
        guess = alpha_prev * dphi_prev / dphi0
        known = ops.isfinite(guess) & (guess > 0)
        return ops.where(known, guess, lr * first)

    def get_config(self) -> dict[str, Any]:
        """Return the config: the base optimizer's plus every constructor argument."""
        config = super().get_config()
        config["method"] = self.method
        return config
