"""LR range test on the mnist1d CNN, then training with the suggested learning rate.

Shows `find_learning_rate` in plain Keras code: the sweep runs through `model.fit`,
writes a plot, and leaves the model exactly as it was, so training can start from
the same weights with the suggested learning rate.

Run: `python examples/lr_finder.py [--plot saved_models/lr_finder.png]` (about 20 s on CPU).
"""

from __future__ import annotations

import argparse
import os

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

import keras  # noqa: E402
import numpy as np  # noqa: E402
from mnist1d.data import get_dataset_args, make_dataset  # noqa: E402

from kerasopt.callbacks.lr_finder import find_learning_rate  # noqa: E402


def build_model() -> keras.Model:
    keras.utils.set_random_seed(0)
    model = keras.Sequential([
        keras.Input((40, 1)),
        keras.layers.Conv1D(25, 5, strides=2, activation="relu"),
        keras.layers.Conv1D(25, 3, activation="relu"),
        keras.layers.Conv1D(25, 3, activation="relu"),
        keras.layers.Flatten(),
        keras.layers.Dense(10),
    ])
    model.compile(optimizer=keras.optimizers.Adam(1e-3),
                  loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True),
                  metrics=["accuracy"])
    return model


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--plot", default="saved_models/lr_finder.png")
    args = parser.parse_args()

    data = make_dataset(get_dataset_args())
    x = np.asarray(data["x"], "float32")[..., None]
    y = np.asarray(data["y"])
    x_test = np.asarray(data["x_test"], "float32")[..., None]
    y_test = np.asarray(data["y_test"])

    model = build_model()
    before = [w.copy() for w in model.get_weights()]
    finder = find_learning_rate(model, x, y, batch_size=64, min_lr=1e-5, max_lr=10.0,
                                num_steps=150, plot_path=args.plot)
    unchanged = all(np.array_equal(a, b) for a, b in zip(before, model.get_weights(), strict=True))
    print(f"swept {len(finder.lrs)} learning rates; weights unchanged: {unchanged}")
    steepest = finder.suggestion_steepest  # None if the loss never fell
    print(f"suggestion (min/10): {finder.suggestion:.3g}; steepest: "
          f"{'none' if steepest is None else format(steepest, '.3g')}; plot: {args.plot}")

    model.optimizer.learning_rate = finder.suggestion
    model.fit(x, y, batch_size=64, epochs=5, verbose=0)
    loss, accuracy = model.evaluate(x_test, y_test, verbose=0)
    print(f"after 5 epochs at lr={finder.suggestion:.3g}: test accuracy {accuracy:.3f}")


if __name__ == "__main__":
    main()
