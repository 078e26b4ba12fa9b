"""SAM, Lookahead and SWA around Keras optimizers, in plain Keras code (MNIST-1D, offline).

Run: python examples/sam_and_lookahead.py
Trains the same small MLP with Adam, Lookahead(Adam) and SAM(Adam), then SWA(SGD) with a
batch-norm recompute, and prints the test accuracy of each.
"""

from __future__ import annotations

import keras
import numpy as np
from mnist1d.data import get_dataset_args, make_dataset

from kerasopt.optimizers.lookahead import Lookahead
from kerasopt.optimizers.sam import SAM
from kerasopt.optimizers.swa import SWA
from kerasopt.training.batch_norm import recompute_batch_norm_statistics
from kerasopt.training.closure import enable_closure


def mlp() -> keras.Model:
    keras.utils.set_random_seed(0)
    return keras.Sequential([
        keras.Input((40,)),
        keras.layers.Dense(128, activation="relu"),
        keras.layers.BatchNormalization(),
        keras.layers.Dense(10),
    ])


def train(model: keras.Model, optimizer: keras.optimizers.Optimizer, data: dict, epochs: int) -> float:
    model.compile(optimizer=optimizer, metrics=["accuracy"],
                  loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True))
    enable_closure(model)  # needed by SAM; other optimizers run Keras's own step unchanged
    model.fit(data["x"], data["y"], batch_size=100, epochs=epochs, verbose=0)
    return model.evaluate(data["x_test"], data["y_test"], verbose=0)[1]


def main() -> None:
    data = make_dataset(get_dataset_args())
    data = {k: np.asarray(v, "float32" if k.startswith("x") else "int32")
            for k, v in data.items() if k in ("x", "y", "x_test", "y_test")}
    print(f"Adam:            {train(mlp(), keras.optimizers.Adam(1e-3), data, 15):.3f}")
    lookahead = Lookahead(keras.optimizers.Adam(1e-3), sync_period=6, slow_step_size=0.5)
    print(f"Lookahead(Adam): {train(mlp(), lookahead, data, 15):.3f}")
    print(f"SAM(Adam):       {train(mlp(), SAM(keras.optimizers.Adam(1e-3), rho=0.05), data, 15):.3f}")
    model = mlp()
    swa = SWA(keras.optimizers.SGD(0.05, momentum=0.9), start_averaging=300, average_period=40)
    last = train(model, swa, data, 15)
    swa.assign_average_vars(model.trainable_variables)
    recompute_batch_norm_statistics(model, data["x"], batch_size=100)
    averaged = model.evaluate(data["x_test"], data["y_test"], verbose=0)[1]
    print(f"SGD last weights: {last:.3f}   SWA average: {averaged:.3f}")


if __name__ == "__main__":
    main()
