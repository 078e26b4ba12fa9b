"""Limited-memory BFGS with a strong-Wolfe line search, for full-batch `model.fit`."""

from __future__ import annotations

from typing import Any

from keras import ops

from kerasopt._backend import require_tensorflow
from kerasopt.optimizers._line_search_optimizer import LineSearchOptimizer, _check_positive_int
from kerasopt.registry import register


def two_loop_recursion(gradient: Any, s_history: Any, y_history: Any, head: Any,
                       count: Any) -> Any:
    """Return `H_k @ gradient` by the L-BFGS two-loop recursion (N&W Algorithm 7.4).

    The pairs `(s_i, y_i)` sit in a ring buffer of `m` rows: the newest at row
    `head - 1`, the `count` valid ones going back from there. The initial matrix is
    `H_k^0 = gamma_k I` with `gamma_k = s^T y / y^T y` of the newest pair (N&W eq. 7.20),
    or the identity when the history is empty.

    Args:
        gradient: Vector `q` of shape `(n,)`.
        s_history: Steps `s_i = x_{i+1} - x_i`, shape `(m, n)`.
        y_history: Gradient changes `y_i = g_{i+1} - g_i`, shape `(m, n)`.
        head: Row the next pair will be written to (int scalar).
        count: Number of valid pairs, `0 <= count <= m` (int scalar).

    Returns:
        The product `H_k q`, shape `(n,)`.
    """
    m = s_history.shape[0]
    order = (head - 1 - ops.arange(m, dtype="int32")) % m  # newest first
    s_rows = ops.take(s_history, order, axis=0)
    y_rows = ops.take(y_history, order, axis=0)
    valid = ops.arange(m, dtype="int32") < count
    sy = ops.sum(s_rows * y_rows, axis=1)
    rho = ops.where(valid, 1.0 / ops.where(valid, sy, 1.0), 0.0)
    q = gradient
    alphas = []
    for i in range(m):
        a = rho[i] * ops.sum(s_rows[i] * q)
        q = q - a * y_rows[i]
        alphas.append(a)
    yy = ops.sum(y_rows[0] * y_rows[0])
    gamma = ops.where(count > 0, sy[0] / ops.where(count > 0, yy, 1.0), 1.0)
    r = gamma * q
    for i in reversed(range(m)):
        b = rho[i] * ops.sum(y_rows[i] * r)
        r = r + s_rows[i] * (alphas[i] - b)
    return r


@register("optimizer", aliases=["L-BFGS"])
class LBFGS(LineSearchOptimizer):
    """Limited-memory BFGS (Nocedal & Wright, *Numerical Optimization*, Section 7.2).

    A quasi-Newton method for full-batch training of small models: the search direction
    is `-H_k g_k` from the two-loop recursion (N&W Algorithm 7.4) over the last
    `history_size` pairs `(s, y)`, kept in fixed-size variables as a ring buffer, with
    `H_k^0 = (s^T y / y^T y) I` (eq. 7.20). A pair is stored only when `s^T y > eps y^T y`
    (the curvature condition, which a strong-Wolfe step guarantees for `c2 < 1`).
    Steps come from a strong-Wolfe line search (N&W Algorithms 3.5 and 3.6) run as a state
    machine across train steps: each `fit` step evaluates the loss and gradient once, at
    the current trial point. The first trial step is `learning_rate` (N&W Section 7.2
    recommends the unit step), or `learning_rate * min(1, 1 / ||g||)` while the history is
    empty (steepest descent).

    Use it with the whole data set as one batch, `model.fit(x, y, batch_size=len(x))`:
    every step must see the same function. All trainable variables form one vector. A
    full-batch check compares the loss at an unchanged point (once at the start and every
    `full_batch_check` iterations, at the cost of one evaluation each); when it changed, the
    batches differ or the model is stochastic, and `fit` warns at its end. At the end of
    `fit` the weights are moved from the last trial point back to the best point found.

    Keras's train step calls `optimizer.scale_loss(loss)`; a custom training loop must do
    the same inside its gradient tape, after `optimizer.build(variables)`. Backends: the
    TensorFlow and PyTorch trainers call `scale_loss` in a stateful step; the JAX trainer
    computes the loss in a pure function, so the loss cannot be recorded there.

    Args:
        learning_rate: Factor on the first trial step of each line search (float or
            schedule). Defaults to `1.0`.
        history_size: Number of `(s, y)` pairs kept. Defaults to `10`.
        max_line_search_steps: Function evaluations allowed per line search. Defaults to `25`.
        c1: Sufficient-decrease constant of the Wolfe conditions. Defaults to `1e-4`.
        c2: Curvature constant, `c1 < c2 < 1`. Defaults to `0.9`.
        tolerance_grad: Converged when `max|g| <=` this. Defaults to `1e-7`.
        tolerance_change: Converged when an accepted step changes the loss, or any
            parameter, by less than this; also the smallest line-search bracket.
            Defaults to `1e-9`.
        full_batch_check: Re-evaluate the loss at the unchanged point at the start and
            every this many iterations (0 turns the extra evaluations off). Defaults to `20`.
        name: Optimizer name. Defaults to `"lbfgs"`.
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
        model.compile(optimizer=LBFGS(), loss="mse")
        model.fit(x, y, batch_size=len(x), epochs=50, shuffle=False)
        ```
    """

    def __init__(self, learning_rate: Any = 1.0, history_size: int = 10,
                 max_line_search_steps: int = 25, c1: float = 1e-4, c2: float = 0.9,
                 tolerance_grad: float = 1e-7, tolerance_change: float = 1e-9,
                 full_batch_check: int = 20, name: str | None = "lbfgs", **kwargs: Any) -> None:
        require_tensorflow("kerasopt.optimizers.LBFGS")
        _check_positive_int("history_size", history_size, 1)
        super().__init__(learning_rate, max_line_search_steps, c1, c2, tolerance_grad,
                         tolerance_change, full_batch_check, name, **kwargs)
        self.history_size = history_size

    def _build_direction_state(self, n: int) -> None:
        m = self.history_size
        self._s = self.add_variable((m, n), dtype=self._dtype, name="s_history")
        self._y = self.add_variable((m, n), dtype=self._dtype, name="y_history")
        self._head = self.add_variable((), dtype="int32", name="history_head")
        self._count = self.add_variable((), dtype="int32", name="history_count")

    def _direction(self, g: Any, s: Any, y: Any, update: Any, reset: Any) -> tuple[Any, Any]:
        m = self.history_size
        forget = update & reset
        head = ops.where(forget, 0, ops.convert_to_tensor(self._head))
        count = ops.where(forget, 0, ops.convert_to_tensor(self._count))
        sy, yy = ops.sum(s * y), ops.sum(y * y)
        eps = 2.2e-16 if self._dtype == "float64" else 1.2e-7
        push = update & ~reset & (sy > eps * yy) & (sy > 0)
        row = ops.expand_dims(ops.equal(ops.arange(m, dtype="int32"), head) & push, 1)
        s_hist = ops.where(row, ops.expand_dims(s, 0), self._s)
        y_hist = ops.where(row, ops.expand_dims(y, 0), self._y)
        head = ops.where(push, (head + 1) % m, head)
        count = ops.where(push, ops.minimum(count + 1, m), count)
        self._s.assign(s_hist)
        self._y.assign(y_hist)
        self._head.assign(head)
        self._count.assign(count)
        d = -two_loop_recursion(g, s_hist, y_hist, head, count)
        return d, ops.equal(count, 0)

    def _initial_step(self, dphi0: Any, first: Any, steepest: Any, lr: Any,
                      previous: tuple[Any, Any]) -> Any:
        return ops.where(steepest, lr * first, lr)

    def get_config(self) -> dict[str, Any]:
        """Return the config: the base optimizer's plus every constructor argument."""
        config = super().get_config()
        config["history_size"] = self.history_size
        return config
