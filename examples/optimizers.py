"""kerasopt's first-order optimizers in plain Keras code.

Run: `python examples/optimizers.py`

Trains the same small regression MLP with keras Adam and with each kerasopt first-order
optimizer, prints the final training loss of each, then shows LazyAdam leaving the rows of
an embedding table that no batch looked up exactly as they were.
"""

from __future__ import annotations

import os

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

import keras  # noqa: E402
import numpy as np  # noqa: E402

from kerasopt.optimizers.ada_belief import AdaBelief  # noqa: E402
from kerasopt.optimizers.lars import LARS  # noqa: E402
from kerasopt.optimizers.lazy_adam import LazyAdam  # noqa: E402
from kerasopt.optimizers.novo_grad import NovoGrad  # noqa: E402
from kerasopt.optimizers.rectified_adam import RectifiedAdam  # noqa: E402
from kerasopt.optimizers.rprop import Rprop  # noqa: E402
from kerasopt.optimizers.yogi import Yogi  # noqa: E402


def regression_data() -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(0)
    x = rng.normal(size=(256, 8)).astype("float32")
    y = (np.sin(x[:, :1]) + 0.5 * x[:, 1:2] * x[:, 2:3]).astype("float32")
    return x, y


def final_loss(optimizer: keras.optimizers.Optimizer, batch_size: int = 32) -> float:
    keras.utils.set_random_seed(0)
    model = keras.Sequential([keras.Input((8,)), keras.layers.Dense(32, activation="tanh"),
                              keras.layers.Dense(1)])
    model.compile(optimizer=optimizer, loss="mse")
    x, y = regression_data()
    history = model.fit(x, y, batch_size=batch_size, epochs=30, verbose=0)
    return history.history["loss"][-1]


def main() -> None:
    optimizers = {
        "keras Adam": (keras.optimizers.Adam(0.01), 32),
        "RectifiedAdam": (RectifiedAdam(0.01), 32),
        "AdaBelief": (AdaBelief(0.01, epsilon=1e-16), 32),
        "Yogi": (Yogi(0.01), 32),
        "NovoGrad": (NovoGrad(0.01, weight_decay=1e-3), 32),
        "LARS": (LARS(1.0, eta=0.01, exclude_from_layer_adaptation=["bias"]), 32),
        "LazyAdam": (LazyAdam(0.01), 32),
        # Rprop is a full-batch method: one batch holds the whole data set.
        "Rprop": (Rprop(0.01), 256),
    }
    x, y = regression_data()
    print(f"initial loss (predicting 0): {float(np.mean(y**2)):.4f}")
    for name, (optimizer, batch_size) in optimizers.items():
        print(f"{name:14s} final training loss {final_loss(optimizer, batch_size):.4f}")

    keras.utils.set_random_seed(0)
    model = keras.Sequential([keras.Input((2,), dtype="int32"), keras.layers.Embedding(100, 4),
                              keras.layers.Flatten(), keras.layers.Dense(1)])
    model.compile(optimizer=LazyAdam(0.05), loss="mse")
    table_before = model.layers[0].embeddings.numpy().copy()
    tokens = np.array([[1, 2], [3, 4], [2, 5]], dtype="int32")
    model.fit(tokens, np.ones((3, 1), "float32"), epochs=5, verbose=0)
    moved = np.flatnonzero(np.any(model.layers[0].embeddings.numpy() != table_before, axis=1))
    print(f"LazyAdam moved embedding rows {moved.tolist()} of 100 (the looked-up ones)")


if __name__ == "__main__":
    main()
