"""Full-batch L-BFGS in plain Keras: `compile` with kerasopt's LBFGS, `fit` on the whole data.

Run: python examples/lbfgs_full_batch.py
Each epoch is one full-batch step, i.e. one loss-and-gradient evaluation; the strong-Wolfe
line search runs across steps. `batch_size=len(x)` is required (the optimizer warns at the
end of `fit` when it sees the loss change at an unchanged point, e.g. with mini-batches).
"""

from __future__ import annotations

import os

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

import keras  # noqa: E402
import numpy as np  # noqa: E402
from sklearn.datasets import load_digits  # noqa: E402

from kerasopt.optimizers.lbfgs import LBFGS  # noqa: E402

x, labels = load_digits(return_X_y=True)
x = ((x - x.mean(0)) / (x.std(0) + 1e-8)).astype("float32")
model = keras.Sequential([
    keras.Input((64,)),
    keras.layers.Dense(32, activation="tanh", kernel_regularizer=keras.regularizers.L2(1e-4)),
    keras.layers.Dense(10),
])
optimizer = LBFGS(history_size=10)
model.compile(optimizer=optimizer,
              loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True),
              metrics=["accuracy"])
history = model.fit(x, labels, batch_size=len(x), epochs=60, shuffle=False, verbose=0)
loss, accuracy = model.evaluate(x, labels, batch_size=len(x), verbose=0)
print(f"first loss {history.history['loss'][0]:.4f} -> final loss {loss:.4f}, "
      f"train accuracy {accuracy:.3f}")
print(f"{optimizer.accepted_iterations} L-BFGS iterations in {len(history.history['loss'])} "
      f"evaluations; full-batch mismatches: {optimizer.full_batch_mismatches}")
if not (np.isfinite(loss) and loss < history.history["loss"][0]):
    raise SystemExit("L-BFGS did not reduce the loss")
