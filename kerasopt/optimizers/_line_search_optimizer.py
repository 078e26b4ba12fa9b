"""Base class of the full-batch line-search optimizers (LBFGS, ConjugateGradient).

Keras's `fit` evaluates the loss and its gradient once per train step. A line-search
optimizer needs the *function value* too: Keras 3's train step calls
`optimizer.scale_loss(loss)` inside the gradient tape on every step, so this base keeps
the loss tensor from there for the update of the same step (same graph) and, in the update, feeds `(f, grad)` at the current
weights to a phase machine:

- `START`: the weights are a new base point of unknown value; accept it.
- `RESTART`: the weights are a point whose value is known (the best point of a search
  that ran out of evaluations, or the point restored at the end of `fit`); accept it.
- `CHECK`: the weights are the base point just accepted (unchanged); compare the loss
  with the value recorded one step earlier, then start the line search.
- `SEARCH`: the weights are a trial point `x + alpha d`; one step of the strong-Wolfe
  state machine (`_line_search.StrongWolfe`) decides to accept it, try another step, or
  fall back to the best point.
- `DONE`: converged (`max|g| <= tolerance_grad`, or the accepted step changed the loss or
  the parameters by less than `tolerance_change`); the weights stay put.

All trainable variables are treated as one flat vector. All state lives in Keras
variables and every decision is an `ops.where`, so the train function is traced once.
Under a distribution strategy (`MirroredStrategy`, one or several workers) the loss and
gradient are summed over replicas before the phase machine sees them, so every replica
takes the one-device step of the global batch (`data.batch_size` = the whole data set).

The full-batch check: the loss at an unchanged point must not change. It is compared in
`RESTART`, `CHECK` and `DONE` steps (the `CHECK` step costs one extra evaluation, made at
the start and every `full_batch_check` accepted iterations). A difference larger than
1000 machine epsilons (relative) counts as a mismatch: the batches differ (a `batch_size`
smaller than the data) or the model is stochastic (dropout, noise layers); either makes
the line search unsound. `fit` warns at its end when mismatches occurred
(`finalize_variable_values`), and moves the weights from the last trial point back to the
best accepted point.
"""

from __future__ import annotations

import math
import threading
import warnings
from typing import Any

import keras
from keras import ops

from kerasopt._keras_compat import WholeUpdateHook, built_variables, variable_index
from kerasopt._replicas import sum_over_replicas
from kerasopt.optimizers._adaptive_base import check_learning_rate
from kerasopt.optimizers._line_search import ACCEPT, CONTINUE, FALLBACK, SearchState, StrongWolfe
from kerasopt.optimizers._sparse import densify

START, RESTART, CHECK, SEARCH, DONE = 0, 1, 2, 3, 4
_UNSUPPORTED = ("weight_decay", "clipnorm", "clipvalue", "global_clipnorm",
                "gradient_accumulation_steps")


def _check_positive_int(name: str, value: Any, minimum: int) -> None:
    if isinstance(value, bool) or not isinstance(value, int) or value < minimum:
        raise ValueError(f"`{name}` must be an integer >= {minimum}. Received: {name}={value!r}")


def _check_nonnegative(name: str, value: Any) -> None:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not value >= 0:
        raise ValueError(f"`{name}` must be a number >= 0. Received: {name}={value!r}")


class LineSearchOptimizer(WholeUpdateHook, keras.optimizers.Optimizer):
    """Shared machinery; subclasses define the search direction (see module docstring)."""

    def __init__(self, learning_rate: Any, max_line_search_steps: int, c1: float, c2: float,
                 tolerance_grad: float, tolerance_change: float, full_batch_check: int,
                 name: str | None, **kwargs: Any) -> None:
        check_learning_rate(learning_rate, type(self).__name__)
        _check_positive_int("max_line_search_steps", max_line_search_steps, 1)
        _check_positive_int("full_batch_check", full_batch_check, 0)
        if isinstance(c1, bool) or not isinstance(c1, (int, float)) or not 0 < c1 < 1:
            raise ValueError(f"`c1` must be a number in (0, 1). Received: c1={c1!r}")
        if isinstance(c2, bool) or not isinstance(c2, (int, float)) or not c1 < c2 < 1:
            raise ValueError(f"`c2` must be a number in (c1, 1) = ({c1}, 1). Received: c2={c2!r}")
        _check_nonnegative("tolerance_grad", tolerance_grad)
        _check_nonnegative("tolerance_change", tolerance_change)
        for arg in _UNSUPPORTED:
            if kwargs.get(arg) is not None:
                raise ValueError(
                    f"`{arg}` is not supported by {type(self).__name__}: the line search needs "
                    "the true loss and gradient, unchanged between steps (add an L2 "
                    f"regularizer to the model instead of weight decay). Received: {arg}={kwargs[arg]!r}"
                )
        super().__init__(learning_rate=learning_rate, name=name, **kwargs)
        self.max_line_search_steps = max_line_search_steps
        self.c1 = c1
        self.c2 = c2
        self.tolerance_grad = tolerance_grad
        self.tolerance_change = tolerance_change
        self.full_batch_check = full_batch_check
        self._search = StrongWolfe(c1, c2, max_line_search_steps, tolerance_change)
        self._reported_mismatches = 0
        self._pending_losses: dict[int, Any] = {}

    # ------------------------------------------------------------------ state
    def build(self, variables: list[Any]) -> None:
        """Create the flat-vector state for `variables` (all treated as one vector)."""
        if self.built:
            return
        super().build(variables)
        dtypes = {keras.backend.standardize_dtype(v.dtype) for v in variables}
        self._dtype = "float64" if "float64" in dtypes else "float32"
        self._sizes = [math.prod(v.shape) for v in variables]
        n = sum(self._sizes)

        def scalar(name: str, dtype: str | None = None) -> Any:
            return self.add_variable((), dtype=dtype or self._dtype, name=name)

        self._x = self.add_variable((n,), dtype=self._dtype, name="accepted_point")
        self._g = self.add_variable((n,), dtype=self._dtype, name="accepted_gradient")
        self._d = self.add_variable((n,), dtype=self._dtype, name="direction")
        self._f = scalar("accepted_loss")
        self._f_expected = scalar("expected_loss")
        self._alpha0 = scalar("initial_step")
        self._alpha_prev = scalar("previous_step")
        self._dphi_prev = scalar("previous_slope")
        self._ls = {field: scalar("search_" + field, "int32" if field == "evals" else None)
                    for field in SearchState._fields}
        self._phase = scalar("phase", "int32")
        self._accepted = scalar("accepted_iterations", "int32")
        self._mismatches = scalar("full_batch_mismatches", "int32")
        self._reset = scalar("reset", "int32")
        self._steepest = scalar("steepest", "int32")
        self._build_direction_state(n)

    def _build_direction_state(self, n: int) -> None:
        """Create the subclass's variables (history, ...)."""

    def _direction(self, g: Any, s: Any, y: Any, update: Any, reset: Any) -> tuple[Any, Any]:
        """Return `(d, steepest)`; update own state where `update`, forget it where `reset`."""
        return -g, ops.ones((), "bool")

    def _initial_step(self, dphi0: Any, first: Any, steepest: Any, lr: Any,
                      previous: tuple[Any, Any]) -> Any:
        """First trial step of a search; `first = min(1, 1/||g||)` suits steepest descent.

        `previous` holds the accepted step and initial slope of the previous search
        (0 and 0 when there was none or it made no progress).
        """
        return lr * first

    @property
    def accepted_iterations(self) -> int:
        """Number of completed line searches (iterations of the method)."""
        return int(ops.convert_to_numpy(self._accepted)) if self.built else 0

    @property
    def converged(self) -> bool:
        """True once a convergence tolerance was met (the weights no longer move)."""
        return self.built and int(ops.convert_to_numpy(self._phase)) == DONE

    @property
    def full_batch_mismatches(self) -> int:
        """How often the loss changed at an unchanged point (see the module docstring)."""
        return int(ops.convert_to_numpy(self._mismatches)) if self.built else 0

    def scale_loss(self, loss: Any) -> Any:
        """Remember the loss (Keras's train step calls this every step), then scale it.

        The loss tensor is kept for the update of the same step (same graph), so no
        variable is needed and a step that skipped this call fails at tracing time. It is
        kept per thread: `MirroredStrategy` runs each replica's step in its own thread, and
        a layer that synchronizes replicas in the forward pass (`BatchNormalization(
        synchronized=True)`) lets every replica's loss be computed before any update.
        """
        self._pending_losses[threading.get_ident()] = loss
        return super().scale_loss(loss)

    # ----------------------------------------------------------------- update
    def _flatten(self, tensors: list[Any]) -> Any:
        return ops.concatenate([ops.reshape(ops.cast(t, self._dtype), (-1,)) for t in tensors], 0)

    def _assign_flat(self, flat: Any) -> None:
        offset = 0
        for var, size in zip(built_variables(self), self._sizes, strict=False):
            self.assign(var, ops.reshape(flat[offset:offset + size], var.shape))
            offset += size

    def update_all(self, grads: list[Any], trainable_variables: list[Any],
                   learning_rate: Any) -> None:
        """One step of the phase machine on all variables, as one flat vector."""
        built = built_variables(self)
        full = [ops.zeros(v.shape, self._dtype) for v in built]
        for grad, var in zip(grads, trainable_variables, strict=False):
            full[variable_index(self, var)] = densify(grad)
        w = self._flatten(built)
        pending_loss = self._pending_losses.pop(threading.get_ident(), None)
        if pending_loss is None:
            raise ValueError(
                f"{type(self).__name__} needs the loss of every step: call "
                "`loss = optimizer.scale_loss(loss)` inside the gradient tape before "
                "`optimizer.apply(grads)`, as Keras's `fit` does. A `LossScaleOptimizer` (which "
                "Keras's compile puts around the optimizer under the mixed_float16 policy) and "
                "the JAX trainer do not, and are not supported: use the mixed_bfloat16 policy "
                "or float32, or compile(..., auto_scale_loss=False)."
            )
        # Under a distribution strategy each replica holds its share of the global batch's
        # loss and gradient (Keras divides the loss by the replica count): sum both, so
        # every replica runs the same search on the global batch and writes the same weights.
        g, f = sum_over_replicas([self._flatten(full), ops.cast(pending_loss, self._dtype)])
        dt = self._dtype
        lr = ops.cast(learning_rate, dt)
        phase = ops.convert_to_tensor(self._phase)
        x, g_old, d = (ops.convert_to_tensor(v) for v in (self._x, self._g, self._d))
        f_old = ops.convert_to_tensor(self._f)
        is_ = {p: ops.equal(phase, p) for p in (START, RESTART, CHECK, SEARCH, DONE)}

        state = SearchState(*(ops.convert_to_tensor(self._ls[k]) for k in SearchState._fields))
        dmax = ops.max(ops.abs(d))
        new_state, outcome = self._search.step(state, f, ops.sum(g * d), dmax)
        ls_accept = is_[SEARCH] & ops.equal(outcome, ACCEPT)
        fallback = is_[SEARCH] & ops.equal(outcome, FALLBACK)
        cont = is_[SEARCH] & ops.equal(outcome, CONTINUE)
        accept = is_[START] | is_[RESTART] | ls_accept

        # Full-batch check: the loss at an unchanged point must not change.
        expected = ops.where(is_[DONE] | is_[CHECK], f_old, ops.convert_to_tensor(self._f_expected))
        tol = 1.2e-4 if dt == "float32" else 2.2e-13  # 1000 machine epsilons
        same = ops.abs(f - expected) <= tol * ops.maximum(ops.abs(f), ops.abs(expected))
        compare = is_[RESTART] | is_[CHECK] | is_[DONE]
        self._mismatches.assign_add(ops.cast(compare & ops.logical_not(same), "int32"))

        # A new base point: direction, initial step, convergence.
        reset = ops.equal(ops.convert_to_tensor(self._reset), 1)
        d_new, steepest = self._direction(g, w - x, g - g_old, accept & ~is_[START], reset)
        slope = ops.sum(g * d_new)
        descent = (slope < 0) & ops.isfinite(slope)
        d_new = ops.where(descent, d_new, -g)
        steepest = ops.where(descent, steepest, True)
        dphi0 = ops.sum(g * d_new)
        first = ops.minimum(1.0, 1.0 / ops.maximum(ops.norm(g), 1e-30))
        alpha_prev = ops.where(ls_accept, state.alpha, ops.where(
            fallback, new_state.lo_a, ops.convert_to_tensor(self._alpha_prev)))
        dphi_prev = ops.where(ls_accept | fallback, state.dphi0,
                              ops.convert_to_tensor(self._dphi_prev))
        alpha0 = ops.cast(self._initial_step(dphi0, first, steepest, lr, (alpha_prev, dphi_prev)),
                          dt)
        small_change = ls_accept & (
            (ops.abs(f - f_old) < self.tolerance_change)
            | (ops.abs(state.alpha) * dmax <= self.tolerance_change))
        converged = accept & ((ops.max(ops.abs(g)) <= self.tolerance_grad) | small_change)
        was_steepest = ops.equal(ops.convert_to_tensor(self._steepest), 1)
        stalled = fallback & ops.equal(new_state.lo_a, 0.0) & was_steepest
        done = converged | stalled

        finished = ls_accept | (fallback & (new_state.lo_a > 0))
        accepted = self._accepted + ops.cast(finished, "int32")
        if self.full_batch_check > 0:
            periodic = ls_accept & ops.equal(accepted % self.full_batch_check, 0)
            check_due = accept & ~done & (is_[START] | periodic)
        else:
            check_due = ops.zeros((), "bool")
        next_phase = ops.where(done, DONE, ops.where(
            accept, ops.where(check_due, CHECK, SEARCH), ops.where(
                is_[CHECK] | cont, SEARCH, ops.where(fallback, RESTART, phase))))

        # Next weights.
        alpha0_old = ops.convert_to_tensor(self._alpha0)
        step = ops.where(is_[CHECK], alpha0_old, ops.where(fallback, new_state.lo_a, new_state.alpha))
        base_next = ops.where(accept & ~done & ~check_due, w + alpha0 * d_new, w)
        search_next = x + step * d
        moving = is_[CHECK] | fallback | cont
        self._assign_flat(ops.where(accept, base_next, ops.where(moving, search_next, w)))

        # Bookkeeping.
        def keep(new: Any, var: Any, where: Any = accept) -> None:
            var.assign(ops.where(where, ops.cast(new, var.dtype), var))

        keep(w, self._x)
        keep(g, self._g)
        keep(d_new, self._d)
        keep(f, self._f)
        keep(alpha0, self._alpha0)
        keep(steepest, self._steepest)
        keep(0, self._reset)
        started = self._search.start(f, dphi0, alpha0)
        for field in SearchState._fields:
            value = ops.where(accept, getattr(started, field), getattr(new_state, field))
            keep(value, self._ls[field], accept | cont | fallback)
        self._alpha_prev.assign(alpha_prev)
        self._dphi_prev.assign(dphi_prev)
        keep(new_state.lo_f, self._f_expected, fallback)
        keep(ops.equal(new_state.lo_a, 0.0), self._reset, fallback)
        self._accepted.assign(accepted)
        self._phase.assign(ops.cast(next_phase, "int32"))

    def finalize_variable_values(self, var_list: list[Any]) -> None:
        """End of `fit`: restore the best point, warn about full-batch mismatches."""
        super().finalize_variable_values(var_list)
        if not self.built:
            return
        phase = int(ops.convert_to_numpy(self._phase))
        if self.use_ema:
            self._phase.assign(START)  # the weights are now the moving average
        elif phase == SEARCH:
            lo_a = ops.convert_to_tensor(self._ls["lo_a"])
            self._assign_flat(ops.convert_to_tensor(self._x) + lo_a * self._d)
            self._f_expected.assign(self._ls["lo_f"])
            self._phase.assign(RESTART)
        elif phase == DONE:
            self._f_expected.assign(self._f)
            self._phase.assign(RESTART)
        mismatches = self.full_batch_mismatches
        if mismatches > self._reported_mismatches:
            warnings.warn(
                f"{type(self).__name__}: the loss changed at an unchanged point {mismatches} "
                "time(s). A line search needs the same full batch at every step and a "
                "deterministic model: use `model.fit(x, y, batch_size=len(x))` with the whole "
                "data set, and no dropout or noise layers active in training.",
                UserWarning, stacklevel=2,
            )
            self._reported_mismatches = mismatches

    def get_config(self) -> dict[str, Any]:
        """Return the base optimizer config plus the line-search arguments."""
        config = super().get_config()
        config.update({
            "max_line_search_steps": self.max_line_search_steps, "c1": self.c1, "c2": self.c2,
            "tolerance_grad": self.tolerance_grad, "tolerance_change": self.tolerance_change,
            "full_batch_check": self.full_batch_check,
        })
        return config
