"""Function-and-gradient evaluations to the optimum: kerasopt LBFGS (through `model.fit`) vs
scipy L-BFGS-B vs full-batch Adam, on L2-regularized softmax regression of sklearn digits.

Run: python benchmarks/lbfgs_vs_scipy.py
Everything runs in float64. The target is scipy's optimum value to 1e-4 relative; each
`fit` epoch is one full-batch step, i.e. one evaluation.
"""

from __future__ import annotations

import os
import time

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

import keras  # noqa: E402
import numpy as np  # noqa: E402
import scipy.optimize  # noqa: E402
from sklearn.datasets import load_digits  # noqa: E402

from kerasopt.optimizers.lbfgs import LBFGS  # noqa: E402

L2 = 1e-3
keras.config.set_floatx("float64")
x, labels = load_digits(return_X_y=True)
x = (x - x.mean(0)) / (x.std(0) + 1e-8)
y = np.eye(10)[labels]
n, k = x.shape[1], 10


def objective(p):
    w, b = p[: n * k].reshape(n, k), p[n * k:]
    z = x @ w + b
    z = z - z.max(1, keepdims=True)
    logp = z - np.log(np.exp(z).sum(1, keepdims=True))
    loss = -(y * logp).sum(1).mean() + L2 * (w * w).sum()
    r = (np.exp(logp) - y) / len(x)
    return loss, np.concatenate([(x.T @ r + 2 * L2 * w).ravel(), r.sum(0)])


t = time.perf_counter()
ref = scipy.optimize.minimize(objective, np.zeros(n * k + k), jac=True, method="L-BFGS-B")
scipy_s = time.perf_counter() - t
target = ref.fun * (1 + 1e-4)
seen = [objective(np.zeros(n * k + k))[0]]  # rerun, recording every value to find the target
scipy.optimize.minimize(lambda p: (seen.append(objective(p)[0]), objective(p))[1],
                        np.zeros(n * k + k), jac=True, method="L-BFGS-B")
scipy_to_target = next(i for i, v in enumerate(seen[1:], 1) if v <= target)


class StopAt(keras.callbacks.Callback):
    def __init__(self):
        super().__init__()
        self.reached = None

    def on_epoch_end(self, epoch, logs=None):
        if self.reached is None and logs["loss"] <= target:
            self.reached = epoch + 1
            self.model.stop_training = True


def evaluations(optimizer, max_epochs):
    model = keras.Sequential([keras.Input((n,)), keras.layers.Dense(
        k, kernel_initializer="zeros", kernel_regularizer=keras.regularizers.L2(L2))])
    model.compile(optimizer=optimizer,
                  loss=keras.losses.CategoricalCrossentropy(from_logits=True))
    stop = StopAt()
    t = time.perf_counter()
    history = model.fit(x, y, batch_size=len(x), epochs=max_epochs, shuffle=False, verbose=0,
                        callbacks=[stop])
    return stop.reached, min(history.history["loss"]), time.perf_counter() - t


lbfgs_evals, lbfgs_best, lbfgs_s = evaluations(LBFGS(), 200)
print(f"scipy L-BFGS-B : {ref.nfev:4d} evaluations to converge, f* = {ref.fun:.8f} "
      f"({scipy_s:.2f} s); {scipy_to_target} evaluations to f* (1 + 1e-4)")
print(f"kerasopt LBFGS : {lbfgs_evals} evaluations to f* (1 + 1e-4) "
      f"(best {lbfgs_best:.8f}, {lbfgs_s:.2f} s incl. tracing)")
if lbfgs_evals:
    print(f"ratio LBFGS / scipy evaluations to f* (1 + 1e-4): "
          f"{lbfgs_evals / scipy_to_target:.2f}x (target <= 1.5x)")
best_adam = None
for lr in (0.01, 0.03, 0.1):
    reached, best, _ = evaluations(keras.optimizers.Adam(lr), 1000)
    print(f"Adam lr={lr:<5}: {reached} evaluations to f* (1 + 1e-4) (best {best:.8f})")
    if reached and (best_adam is None or reached < best_adam):
        best_adam = reached
if best_adam and lbfgs_evals:
    print(f"ratio best Adam / LBFGS evaluations: {best_adam / lbfgs_evals:.1f}x")
