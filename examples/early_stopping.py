"""Early stopping, divergence recovery and an overfitting monitor in plain Keras code.

Run: python examples/early_stopping.py   (about half a minute on a laptop CPU, offline)

It trains a small MLP on MNIST-1D (generated locally by the `mnist1d` package) twice:
1. with a learning rate so high that SGD blows up: `DivergenceRecovery` rolls the
   weights and optimizer state back and divides the rate by 5 until training is stable;
2. with an over-sized model on 1,000 examples, where `EarlyStopping` stops once the
   validation loss has not improved for 5 epochs and restores the best weights, while
   `OverfittingMonitor` adds the train/validation gap to the history.
"""

from __future__ import annotations

import keras
import numpy as np
from mnist1d.data import get_dataset_args, make_dataset

from kerasopt.callbacks.divergence_recovery import DivergenceRecovery
from kerasopt.callbacks.early_stopping import EarlyStopping
from kerasopt.callbacks.overfitting_monitor import OverfittingMonitor


def load_mnist1d() -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """MNIST-1D, standardized: 4,000 training and 1,000 test sequences of length 40."""
    data = make_dataset(get_dataset_args())
    mean, std = data["x"].mean(), data["x"].std()
    x, x_test = ((data[k] - mean) / std for k in ("x", "x_test"))
    return (x.astype("float32"), data["y"].astype("int32"),
            x_test.astype("float32"), data["y_test"].astype("int32"))


def mlp(width: int, learning_rate: float) -> keras.Model:
    """A two-hidden-layer tanh MLP compiled with SGD + momentum 0.9."""
    model = keras.Sequential([
        keras.Input((40,)),
        keras.layers.Dense(width, activation="tanh"),
        keras.layers.Dense(width, activation="tanh"),
        keras.layers.Dense(10),
    ])
    model.compile(optimizer=keras.optimizers.SGD(learning_rate, momentum=0.9),
                  loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True),
                  metrics=["accuracy"])
    return model


def main() -> None:
    keras.utils.set_random_seed(0)
    x, y, x_test, y_test = load_mnist1d()

    print("1. SGD at learning rate 2.0 (far too high), with DivergenceRecovery")
    model = mlp(64, learning_rate=2.0)
    # Cross-entropy of a saturated tanh network grows steadily rather than to inf, so
    # a blow-up is declared at 1.5 times the best loss instead of the default ten times.
    recovery = DivergenceRecovery(factor=0.2, max_retries=6, explosion_factor=1.5,
                                  check="batch", snapshot_every_n_steps=20, verbose=1)
    history = model.fit(x, y, batch_size=64, epochs=5, callbacks=[recovery], verbose=0)
    _, accuracy = model.evaluate(x_test, y_test, verbose=0)
    print(f"   roll-backs: {recovery.retries}, final learning rate: "
          f"{float(model.optimizer.learning_rate):.4g}, last loss: {history.history['loss'][-1]:.3f}, "
          f"test accuracy: {accuracy:.3f}")

    print("2. A wide MLP on 1,000 examples, with EarlyStopping and OverfittingMonitor")
    model = mlp(256, learning_rate=0.05)
    stopper = EarlyStopping(monitor="val_loss", patience=5, restore_best_weights=True,
                            divergence_threshold=10.0, verbose=1)
    overfitting = OverfittingMonitor(max_gap=0.5, patience=3, action="warn")
    history = model.fit(x[:1000], y[:1000], validation_data=(x[1000:2000], y[1000:2000]),
                        batch_size=32, epochs=100, callbacks=[overfitting, stopper], verbose=0)
    _, accuracy = model.evaluate(x_test, y_test, verbose=0)
    gaps = ", ".join(f"{g:.2f}" for g in history.history["overfitting_gap"])
    print(f"   ran {len(history.history['loss'])} epochs; stop reason: {stopper.stop_reason}; "
          f"best val_loss {stopper.best:.3f} at epoch {stopper.best_epoch + 1}; "
          f"test accuracy with the restored weights: {accuracy:.3f}")
    print(f"   relative train/validation loss gap per epoch: {gaps}")


if __name__ == "__main__":
    main()
