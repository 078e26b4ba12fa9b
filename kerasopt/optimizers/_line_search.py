"""A strong-Wolfe line search written as a state machine over scalar tensors.

Nocedal & Wright, *Numerical Optimization* (2nd ed.), Algorithm 3.5 (bracketing) and
Algorithm 3.6 (zoom), rewritten so that one call consumes one function-and-gradient
evaluation along the search line and returns the next trial step. This is what lets a
line-search optimizer run inside Keras's `fit`, where every train step evaluates the loss
and its gradient exactly once: the weights are set to the next trial point at the end of
a step and evaluated at the start of the next one.

Formulation choices:
- The bracketing phase and the zoom phase share one update. In both, the current trial
  replaces the low end `lo` (the best point so far that satisfies the sufficient-decrease
  condition) when it satisfies sufficient decrease and improves on `lo`; otherwise it
  becomes the high end `hi`. When it replaces `lo` and its slope points away from the old
  `hi` (Algorithm 3.6, `phi'(a_j) (a_hi - a_lo) >= 0`), the old `lo` becomes `hi`. While no
  `hi` exists the search extrapolates (Algorithm 3.5, last branch).
- New trial steps come from the minimizer of the cubic that interpolates the function
  values and slopes at two points (N&W eq. 3.59). In zoom it is kept at least 10% of the
  interval width away from both ends; when the cubic has no minimizer (or a value is not
  finite) the interval is bisected. Extrapolation takes the cubic minimizer clipped to
  `[a + 0.01 (a - a_lo), 10 a]`, or `10 a` when there is none.
- A non-finite function value counts as a failed sufficient-decrease test.
- When the budget of evaluations runs out, or the bracket is shorter than
  `tolerance_change` in the parameters, the search stops: the current trial is accepted if
  it is the best point so far (its gradient is at hand); otherwise the caller must return
  to the best point `lo` (outcome `FALLBACK`).
"""

from __future__ import annotations

from typing import Any, NamedTuple

from keras import ops

CONTINUE = 0
"""Outcome: evaluate the next trial step `state.alpha`."""
ACCEPT = 1
"""Outcome: the point just evaluated is accepted."""
FALLBACK = 2
"""Outcome: stop; the best point is at step `state.lo_a` (0 means no progress)."""


class SearchState(NamedTuple):
    """Scalar state of one line search (all tensors of the same float dtype, but `evals`).

    Attributes:
        zooming: 1.0 once a bracket `[lo, hi]` exists (Algorithm 3.6), else 0.0.
        alpha: The step being evaluated.
        lo_a: Best step so far satisfying sufficient decrease (0 at the start).
        lo_f: Function value at `lo_a`.
        lo_g: Directional derivative at `lo_a`.
        hi_a: Other end of the bracket (meaningful while zooming).
        hi_f: Function value at `hi_a`.
        hi_g: Directional derivative at `hi_a`.
        phi0: Function value at step 0.
        dphi0: Directional derivative at step 0 (negative).
        evals: Evaluations spent so far in this search.
    """

    zooming: Any
    alpha: Any
    lo_a: Any
    lo_f: Any
    lo_g: Any
    hi_a: Any
    hi_f: Any
    hi_g: Any
    phi0: Any
    dphi0: Any
    evals: Any


def cubic_minimizer(a: Any, fa: Any, ga: Any, b: Any, fb: Any, gb: Any) -> tuple[Any, Any]:
    """Minimizer of the cubic through `(a, fa)`, `(b, fb)` with slopes `ga`, `gb` (N&W eq. 3.59).

    Returns:
        The minimizer and a boolean tensor that is False when the cubic has no finite
        minimizer (the caller then bisects or extrapolates).
    """
    d1 = ga + gb - 3.0 * (fa - fb) / (a - b)
    radicand = d1 * d1 - ga * gb
    d2 = ops.sign(b - a) * ops.sqrt(ops.maximum(radicand, 0.0))
    c = b - (b - a) * (gb + d2 - d1) / (gb - ga + 2.0 * d2)
    ok = ops.logical_and(radicand >= 0.0, ops.isfinite(c))
    return ops.where(ok, c, a), ok


class StrongWolfe:
    """One-evaluation-per-call strong-Wolfe line search (N&W Algorithms 3.5/3.6).

    Args:
        c1: Sufficient-decrease constant, `0 < c1 < c2`.
        c2: Curvature constant, `c1 < c2 < 1`.
        max_steps: Evaluations allowed per search.
        tolerance_change: Smallest bracket length, measured as the largest parameter
            change `|hi_a - lo_a| * max|d|`.
    """

    def __init__(self, c1: float, c2: float, max_steps: int, tolerance_change: float) -> None:
        self.c1 = c1
        self.c2 = c2
        self.max_steps = max_steps
        self.tolerance_change = tolerance_change

    @staticmethod
    def start(phi0: Any, dphi0: Any, alpha0: Any) -> SearchState:
        """The state of a new search from step 0 with a first trial step `alpha0`."""
        zero = ops.zeros_like(phi0)
        return SearchState(zooming=zero, alpha=alpha0, lo_a=zero, lo_f=phi0, lo_g=dphi0,
                           hi_a=zero, hi_f=phi0, hi_g=dphi0, phi0=phi0, dphi0=dphi0,
                           evals=ops.zeros((), "int32"))

    def step(self, s: SearchState, f: Any, dphi: Any, direction_max: Any) -> tuple[SearchState, Any]:
        """Consume the evaluation `(f, dphi)` at step `s.alpha`.

        Args:
            s: The current state.
            f: Function value at `s.alpha`.
            dphi: Directional derivative at `s.alpha`.
            direction_max: `max|d|`, to measure the bracket in parameter units.

        Returns:
            The next state and the outcome (`CONTINUE`, `ACCEPT` or `FALLBACK`, int32).
        """
        finite = ops.logical_and(ops.isfinite(f), ops.isfinite(dphi))
        armijo = f <= s.phi0 + self.c1 * s.alpha * s.dphi0
        bad = ops.logical_not(ops.logical_and(ops.logical_and(armijo, f < s.lo_f), finite))
        curvature = ops.abs(dphi) <= -self.c2 * s.dphi0
        accept = ops.logical_and(ops.logical_not(bad), curvature)
        f = ops.where(finite, f, float("inf"))
        dphi = ops.where(finite, dphi, 0.0)

        zooming = s.zooming > 0.5
        # While bracketing, the unknown `hi` lies to the right of `lo`.
        towards_hi = ops.where(zooming, s.hi_a - s.lo_a, ops.ones_like(s.alpha))
        flip = ops.logical_and(ops.logical_not(bad), dphi * towards_hi >= 0.0)
        new_zooming = ops.logical_or(zooming, ops.logical_or(bad, flip))

        def pick(cur: Any, lo: Any, hi: Any) -> tuple[Any, Any]:
            new_lo = ops.where(bad, lo, cur)
            new_hi = ops.where(bad, cur, ops.where(flip, lo, hi))
            return new_lo, new_hi

        lo_a, hi_a = pick(s.alpha, s.lo_a, s.hi_a)
        lo_f, hi_f = pick(f, s.lo_f, s.hi_f)
        lo_g, hi_g = pick(dphi, s.lo_g, s.hi_g)

        # Zoom: safeguarded cubic between lo and hi, or bisection.
        left, right = ops.minimum(lo_a, hi_a), ops.maximum(lo_a, hi_a)
        width = right - left
        c, ok = cubic_minimizer(lo_a, lo_f, lo_g, hi_a, hi_f, hi_g)
        zoom_alpha = ops.where(ok, ops.clip(c, left + 0.1 * width, right - 0.1 * width),
                               0.5 * (left + right))
        # Extrapolation: cubic through the previous lo and the current point.
        low = s.alpha + 0.01 * (s.alpha - s.lo_a)
        high = 10.0 * s.alpha
        e, ok_e = cubic_minimizer(s.lo_a, s.lo_f, s.lo_g, s.alpha, f, dphi)
        extra_alpha = ops.where(ok_e, ops.clip(e, low, high), high)
        alpha = ops.where(new_zooming, zoom_alpha, extra_alpha)

        evals = s.evals + 1
        exhausted = ops.logical_or(
            evals >= self.max_steps,
            ops.logical_and(new_zooming, width * direction_max < self.tolerance_change),
        )
        outcome = ops.where(
            accept, ACCEPT,
            ops.where(exhausted, ops.where(bad, FALLBACK, ACCEPT), CONTINUE),
        )
        new_state = SearchState(
            zooming=ops.cast(new_zooming, s.alpha.dtype), alpha=alpha, lo_a=lo_a, lo_f=lo_f,
            lo_g=lo_g, hi_a=hi_a, hi_f=hi_f, hi_g=hi_g, phi0=s.phi0, dphi0=s.dphi0, evals=evals,
        )
        return new_state, ops.cast(outcome, "int32")
