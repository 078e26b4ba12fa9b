"""Per-step overhead of `kerasopt run` against hand-written plain Keras.

The MNIST-1D paper CNN (recipes/mnist1d_cnn.yaml) is trained for the same number of steps
through the recipe runner (with its default callbacks: TensorBoard, weight norms, backups,
best weights) and in plain Keras code (`model.fit` on the same tf.data pipeline shape),
interleaved, several rounds. Both run with Keras's execution defaults (one step per
execution, no XLA; the run pins them with `training.steps_per_execution=1
training.jit_compile=false`), so the ratio is what the runner itself adds (its callbacks)
or saves (its data pipeline: endless passes, one iterator per `fit`) at the same settings;
what its automatic settings gain is measured in step_time_vs_tf_keras.py. Prints seconds
per step for each and their ratio.

    python benchmarks/overhead.py [--steps 2000] [--rounds 3]
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time

import keras
import tensorflow as tf
from mnist1d.data import get_dataset_args, make_dataset

from kerasopt.recipe.check.loader import load_recipe
from kerasopt.recipe.run.runner import run


def plain_keras_seconds_per_step(steps: int, log_dir: str) -> float:
    data = make_dataset(get_dataset_args())
    x = data["x"].astype("float32")[..., None]
    y = data["y"].astype("int64")
    n_val = len(x) // 10
    train = (tf.data.Dataset.from_tensor_slices((x[n_val:], y[n_val:]))
             .shuffle(len(x), seed=0).batch(100).prefetch(tf.data.AUTOTUNE))
    val = tf.data.Dataset.from_tensor_slices((x[:n_val], y[:n_val])).batch(100)
    keras.utils.set_random_seed(0)
    model = keras.Sequential([keras.Input((40, 1))] + [
        layer for k in (5, 3, 3) for layer in (
            keras.layers.ZeroPadding1D(1), keras.layers.Conv1D(25, k, strides=2, activation="relu"))
    ] + [keras.layers.Flatten(), keras.layers.Dense(10, activation="softmax")])
    model.compile(keras.optimizers.Adam(0.01), "sparse_categorical_crossentropy", metrics=["accuracy"])
    per_epoch = int(train.cardinality())
    epochs = -(-steps // per_epoch)
    start = time.perf_counter()
    model.fit(train, validation_data=val, epochs=epochs, verbose=0,
              callbacks=[keras.callbacks.TensorBoard(log_dir, write_graph=False)])
    return (time.perf_counter() - start) / (epochs * per_epoch)


def kerasopt_seconds_per_step(steps: int, out: str) -> float:
    loaded = load_recipe("mnist1d_cnn", [f"training.steps={steps}", "runtime.verbose=0",
                                          "export.tflite=null", "export.keras=false",
                                          "training.steps_per_execution=1", "training.jit_compile=false"])
    metrics = run(loaded, output_dir=out)
    return metrics["timing"]["fit_seconds"] / metrics["timing"]["train_steps"]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=2000)
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    plain, ours = [], []
    for round_index in range(args.rounds):
        with tempfile.TemporaryDirectory() as tmp:
            plain.append(plain_keras_seconds_per_step(args.steps, f"{tmp}/plain"))
            ours.append(kerasopt_seconds_per_step(args.steps, f"{tmp}/run"))
        print(f"round {round_index + 1}: plain {plain[-1] * 1e3:.2f} ms/step, "
              f"kerasopt {ours[-1] * 1e3:.2f} ms/step, ratio {ours[-1] / plain[-1]:.3f}")
    ratio = statistics.median(o / p for o, p in zip(ours, plain, strict=True))
    print(f"median ratio kerasopt/plain Keras: {ratio:.3f} ({args.steps} steps, {args.rounds} rounds)")


if __name__ == "__main__":
    main()
