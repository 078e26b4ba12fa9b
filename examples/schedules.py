"""Learning-rate schedules and the LR logger / progress bar / time budget callbacks, in plain Keras.

Run: python examples/schedules.py   (under a minute on a laptop CPU, offline)

It trains the same small MLP on MNIST-1D (generated locally by the `mnist1d` package)
with SGD + momentum under five learning-rate policies of the same peak rate and length:
a constant rate, Keras's `CosineDecay` wrapped in kerasopt's `Warmup`, `OneCycle`,
`WarmupStableDecay` (WSD) and `Cyclical` (triangular2). Each run uses:

- `ProgressBar` instead of Keras's progress bar (`verbose=0`): one line per epoch here
  because the output is usually piped; carriage-return updates in a terminal;
- `LearningRateLogger`, which adds `learning_rate` to the history (and would write
  TensorBoard scalars with `log_dir=...`);
- `TimeStopping`, a wall-clock budget per run, checked after every batch.

It prints the learning rate the history recorded at each epoch end and the test
accuracy of every policy.
"""

from __future__ import annotations

import keras
import numpy as np
from mnist1d.data import get_dataset_args, make_dataset

from kerasopt.callbacks.learning_rate_logger import LearningRateLogger
from kerasopt.callbacks.progress_bar import ProgressBar
from kerasopt.callbacks.time_stopping import TimeStopping
from kerasopt.schedules.cyclical import Cyclical
from kerasopt.schedules.one_cycle import OneCycle
from kerasopt.schedules.warmup import Warmup
from kerasopt.schedules.warmup_stable_decay import WarmupStableDecay

EPOCHS, BATCH, PEAK = 8, 100, 0.05


def load_mnist1d() -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """MNIST-1D, standardized: 4,000 training and 1,000 test sequences of length 40."""
    data = make_dataset(get_dataset_args())
    mean, std = data["x"].mean(), data["x"].std()
    x, x_test = ((data[k] - mean) / std for k in ("x", "x_test"))
    return (x.astype("float32"), data["y"].astype("int32"),
            x_test.astype("float32"), data["y_test"].astype("int32"))


def policies(total_steps: int) -> dict[str, object]:
    """Five learning-rate policies that peak at PEAK and span `total_steps` steps."""
    warmup = total_steps // 10
    cosine = keras.optimizers.schedules.CosineDecay(PEAK, decay_steps=total_steps - warmup)
    return {
        "constant": PEAK,
        "warmup+cosine": Warmup(cosine, warmup_steps=warmup),
        "one_cycle": OneCycle(PEAK, total_steps),
        "wsd (1-sqrt)": WarmupStableDecay(PEAK, warmup, total_steps * 7 // 10 - warmup,
                                          total_steps * 3 // 10, decay_type="sqrt"),
        "cyclical": Cyclical(PEAK / 10, PEAK, step_size=total_steps // 4, mode="triangular2"),
    }


def train(learning_rate: object, data: tuple[np.ndarray, ...]) -> tuple[list[float], float]:
    """Train the MLP; return the logged learning rate per epoch and the test accuracy."""
    x, y, x_test, y_test = data
    keras.utils.set_random_seed(0)
    model = keras.Sequential([
        keras.Input((40,)),
        keras.layers.Dense(128, activation="relu"),
        keras.layers.Dense(128, activation="relu"),
        keras.layers.Dense(10),
    ])
    model.compile(
        optimizer=keras.optimizers.SGD(learning_rate, momentum=0.9),
        loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True),
        metrics=["accuracy"],
    )
    callbacks = [LearningRateLogger(), TimeStopping(seconds=60, check="batch"),
                 ProgressBar(interactive=False)]
    history = model.fit(x, y, batch_size=BATCH, epochs=EPOCHS, verbose=0, callbacks=callbacks)
    _, accuracy = model.evaluate(x_test, y_test, verbose=0)
    return history.history["learning_rate"], accuracy


def main() -> None:
    data = load_mnist1d()
    total_steps = EPOCHS * len(data[0]) // BATCH
    results = {}
    for name, learning_rate in policies(total_steps).items():
        print(f"--- {name}")
        results[name] = train(learning_rate, data)
    print(f"\n{'policy':<15} {'test acc':>8}  learning rate at each epoch end")
    for name, (rates, accuracy) in results.items():
        print(f"{name:<15} {accuracy:8.3f}  " + " ".join(f"{r:.4f}" for r in rates))


if __name__ == "__main__":
    main()
