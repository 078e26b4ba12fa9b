"""Independent NumPy reference of LBFGS / nonlinear CG with a strong-Wolfe line search.

Written procedurally, straight from Nocedal & Wright: Algorithm 3.5 (bracketing) and 3.6
(zoom) as ordinary loops, the L-BFGS direction from the *dense* BFGS inverse update
(eq. 6.17 applied to `H_0 = gamma I`, eq. 7.20) instead of the two-loop recursion, and
CG's beta from eqs. 5.41a / 5.44-5.45. It shares with kerasopt only the documented
choices (cubic interpolation eq. 3.59 with a 10% safeguard in zoom, extrapolation clipped
to `[a + 0.01 (a - a_prev), 10 a]`, the first step `min(1, 1/||g||)`, the fallback to the
best point when the budget runs out). It returns every point where the function was
evaluated, which is what the Keras optimizer's weights are at every train step.
"""

from __future__ import annotations

import numpy as np


def cubic(a, fa, ga, b, fb, gb):
    with np.errstate(all="ignore"):
        d1 = ga + gb - 3 * (fa - fb) / (a - b)
        rad = d1 * d1 - ga * gb
        if not rad >= 0:
            return None
        d2 = np.sign(b - a) * np.sqrt(rad)
        c = b - (b - a) * (gb + d2 - d1) / (gb - ga + 2 * d2)
    return c if np.isfinite(c) else None


def dense_inverse_hessian(pairs, n):
    """BFGS inverse-Hessian approximation from `H_0 = gamma I` and the pairs (eq. 6.17)."""
    if not pairs:
        return np.eye(n)
    s, y = pairs[-1]
    h = (s @ y) / (y @ y) * np.eye(n)
    for s, y in pairs:
        rho = 1.0 / (s @ y)
        v = np.eye(n) - rho * np.outer(y, s)
        h = v.T @ h @ v + rho * np.outer(s, s)
    return h


class Reference:
    """Evaluate `fun` (returns f, g) and record every evaluation point."""

    def __init__(self, fun, method="lbfgs", m=10, lr=1.0, c1=1e-4, c2=0.9, max_ls=25,
                 tol_grad=1e-7, tol_change=1e-9):
        self.fun, self.method, self.m, self.lr = fun, method, m, lr
        self.c1, self.c2, self.max_ls = c1, c2, max_ls
        self.tol_grad, self.tol_change = tol_grad, tol_change
        self.points = []

    def evaluate(self, x):
        self.points.append(np.array(x, dtype=np.float64))
        return self.fun(x)

    def line_search(self, x, d, f0, g0):
        phi = lambda a: self.evaluate(x + a * d)  # noqa: E731
        dphi0, dmax = g0 @ d, np.max(np.abs(d))
        c1, c2 = self.c1, self.c2
        lo = (0.0, f0, dphi0)
        a, evals = self.alpha0, 0
        while True:  # Algorithm 3.5
            f, g = phi(a)
            dp = g @ d
            evals += 1
            cur = (a, f, dp)
            if not (f <= f0 + c1 * a * dphi0 and f < lo[1]) or not np.isfinite(f):
                hi, bad = (a, np.inf if not np.isfinite(f) else f, dp if np.isfinite(dp) else 0.0), True
                break
            if abs(dp) <= -c2 * dphi0:
                return "accept", a, f, g
            if dp >= 0:
                lo, hi, bad = cur, lo, False
                break
            if evals >= self.max_ls:
                return "accept", a, f, g
            c = cubic(*lo, *cur)
            low, high = a + 0.01 * (a - lo[0]), 10 * a
            lo, a = cur, (high if c is None else min(max(c, low), high))
        while True:  # Algorithm 3.6
            width = abs(hi[0] - lo[0])
            if evals >= self.max_ls or width * dmax < self.tol_change:
                return ("fallback", lo[0], lo[1], None) if bad else ("accept", a, f, g)
            left, right = min(lo[0], hi[0]), max(lo[0], hi[0])
            c = cubic(*lo, *hi)
            a = 0.5 * (left + right) if c is None else min(max(c, left + 0.1 * width),
                                                          right - 0.1 * width)
            f, g = phi(a)
            dp = g @ d
            evals += 1
            cur = (a, f, dp)
            if not (f <= f0 + c1 * a * dphi0 and f < lo[1]) or not np.isfinite(f):
                hi, bad = (a, np.inf if not np.isfinite(f) else f, dp if np.isfinite(dp) else 0.0), True
            else:
                bad = False
                if abs(dp) <= -c2 * dphi0:
                    return "accept", a, f, g
                if dp * (hi[0] - lo[0]) >= 0:
                    hi = lo
                lo = cur

    def run(self, x0, max_evals):
        x = np.asarray(x0, np.float64)
        f, g = self.evaluate(x)
        pairs, d_prev, g_prev = [], None, None
        alpha_prev = dphi_prev = None
        reset = False
        while len(self.points) < max_evals:
            if np.max(np.abs(g)) <= self.tol_grad:
                break
            if self.method == "lbfgs":
                d = -dense_inverse_hessian(pairs, x.size) @ g
                steepest = not pairs
            else:
                beta = 0.0
                if g_prev is not None and not reset:
                    if self.method == "fletcher_reeves":
                        beta = (g @ g) / (g_prev @ g_prev)
                    else:
                        beta = max((g @ (g - g_prev)) / (g_prev @ g_prev), 0.0)
                d = -g + beta * d_prev if beta != 0 else -g
                steepest = beta == 0
            if not g @ d < 0:
                d, steepest = -g, True
            dphi0 = g @ d
            first = self.lr * min(1.0, 1.0 / np.linalg.norm(g))
            if self.method == "lbfgs":
                self.alpha0 = first if steepest else self.lr
            else:
                guess = None if alpha_prev is None else alpha_prev * dphi_prev / dphi0
                self.alpha0 = guess if guess is not None and guess > 0 else first
            status, a, f_new, g_new = self.line_search(x, d, f, g)
            if status == "fallback":
                if a == 0 and steepest:
                    break
                reset = a == 0
                alpha_prev, dphi_prev = a, dphi0
                f_new, g_new = self.evaluate(x + a * d)
                if reset:
                    pairs, alpha_prev = [], None
            else:
                reset = False
                alpha_prev, dphi_prev = a, dphi0
            s, y = a * d, g_new - g
            if s @ y > np.finfo(np.float64).eps * (y @ y) and s @ y > 0:
                pairs = (pairs + [(s, y)])[-self.m:]
            small = status == "accept" and (abs(f_new - f) < self.tol_change
                                            or abs(a) * np.max(np.abs(d)) <= self.tol_change)
            x, f, g_prev, g, d_prev = x + a * d, f_new, g, g_new, d
            if small:
                break
        return self.points


# ---------------------------------------------------------------------------------------
# Test problems (NumPy value-and-gradient, and the same function in keras.ops) and a driver
# that runs a kerasopt optimizer the way Keras's train step does.
# ---------------------------------------------------------------------------------------

def rosenbrock_np(x):
    f = (1 - x[0]) ** 2 + 100 * (x[1] - x[0] ** 2) ** 2
    g = np.array([-2 * (1 - x[0]) - 400 * x[0] * (x[1] - x[0] ** 2), 200 * (x[1] - x[0] ** 2)])
    return f, g


def rosenbrock_ops(w):

    return (1 - w[0]) ** 2 + 100 * (w[1] - w[0] ** 2) ** 2


def quadratic_np(a, b):
    """f(x) = 0.5 x^T A x - b^T x."""
    return lambda x: (0.5 * x @ a @ x - b @ x, a @ x - b)


def quadratic_ops(a, b):
    from keras import ops

    def fun(w):
        a_t, b_t = ops.cast(a, w.dtype), ops.cast(b, w.dtype)
        return 0.5 * ops.sum(w * ops.matmul(a_t, w)) - ops.sum(b_t * w)

    return fun


def run_keras(optimizer, loss_fn, x0, steps, dtype="float64"):
    """Run `steps` train steps (loss recorded via `scale_loss`, as Keras's train step does).

    Returns the weights after every step, shape `(steps, n)`: step `t`'s weights are the
    point evaluated at step `t + 1`.
    """
    import keras
    import tensorflow as tf

    var = keras.Variable(np.asarray(x0), dtype=dtype, name="w")
    optimizer.build([var])

    @tf.function
    def step():
        with tf.GradientTape() as tape:
            loss = optimizer.scale_loss(loss_fn(var.value))
        grads = tape.gradient(loss, [var.value])
        optimizer.apply(grads, [var])

    out = []
    for _ in range(steps):
        step()
        out.append(np.array(var.numpy(), dtype=np.float64))
    return np.stack(out), var
