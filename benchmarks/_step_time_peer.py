"""One measurement of `step_time_vs_tf_keras.py`, in its own process: a fit of the MNIST-1D CNN.

`STACK` is `tf_keras` (Keras 2: the process is switched to it before TensorFlow loads, so
this script only ever runs as a subprocess), `keras3` (plain Keras 3 code) or `kerasopt`
(`kerasopt run mnist1d_cnn` with its defaults). The same model (recipes/mnist1d_cnn.yaml),
data (mnist1d, the first tenth of the training split for validation, batch 100) and
validation every epoch. Prints one JSON object: `steady_ms` (wall time per step from the
end of the first epoch to the end of `fit`: tracing and compiling are in the first epoch
for every stack) and `total_ms` (the whole `fit` call per step, one-time costs included;
for kerasopt, its run's `fit_seconds`, which include choosing the execution settings).

Usage: python benchmarks/_step_time_peer.py STACK STEPS STEPS_PER_EXECUTION JIT
    (STEPS_PER_EXECUTION and JIT are `default` for the stack's defaults)
"""

from __future__ import annotations

import json
import math
import os
import sys
import tempfile
import time

STACK, STEPS, SPE, JIT = sys.argv[1], int(sys.argv[2]), sys.argv[3], sys.argv[4]
if STACK == "tf_keras":
    os.environ["TF_USE_LEGACY_KERAS"] = "1"
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import numpy as np  # noqa: E402
import tensorflow as tf  # noqa: E402

if STACK == "tf_keras":
    import tf_keras as keras  # noqa: E402
else:
    import keras  # noqa: E402

BATCH = 100


class SteadyTimer(keras.callbacks.Callback):
    """Time from the end of the first epoch (validation included) to the end of training."""

    async_safe = True
    per_step_hooks = False

    def __init__(self) -> None:
        super().__init__()
        self.after_first: float | None = None
        self.end: float | None = None

    def on_epoch_end(self, epoch: int, logs: dict | None = None) -> None:
        if self.after_first is None:
            self.after_first = time.perf_counter()

    def on_train_end(self, logs: dict | None = None) -> None:
        self.end = time.perf_counter()


def plain_fit() -> dict:
    from mnist1d.data import get_dataset_args, make_dataset

    data = make_dataset(get_dataset_args())
    x = data["x"].astype("float32")[..., None]
    y = data["y"].astype("int64")
    n_val = len(x) // 10
    train = (tf.data.Dataset.from_tensor_slices((x[n_val:], y[n_val:]))
             .shuffle(len(x) - n_val, seed=0).batch(BATCH).prefetch(tf.data.AUTOTUNE))
    val = tf.data.Dataset.from_tensor_slices((x[:n_val], y[:n_val])).batch(BATCH)
    tf.random.set_seed(0)
    model = keras.Sequential([keras.Input((40, 1))] + [
        layer for k in (5, 3, 3) for layer in (
            keras.layers.ZeroPadding1D(1), keras.layers.Conv1D(25, k, strides=2, activation="relu"))
    ] + [keras.layers.Flatten(), keras.layers.Dense(10, activation="softmax")])
    options = {}
    if SPE != "default":
        options["steps_per_execution"] = int(SPE)
    if JIT != "default":
        options["jit_compile"] = JIT == "true"
    model.compile(keras.optimizers.Adam(0.01), "sparse_categorical_crossentropy", metrics=["accuracy"],
                  **options)
    per_epoch = int(train.cardinality())
    epochs = math.ceil(STEPS / per_epoch)
    timer = SteadyTimer()
    start = time.perf_counter()
    model.fit(train, validation_data=val, epochs=epochs, verbose=0, callbacks=[timer])
    total = time.perf_counter() - start
    steps = epochs * per_epoch
    return {"steady_ms": 1e3 * (timer.end - timer.after_first) / (steps - per_epoch),
            "total_ms": 1e3 * total / steps, "steps": steps}


def kerasopt_run() -> dict:
    from kerasopt.recipe.check.loader import load_recipe
    from kerasopt.recipe.run.runner import run

    overrides = [f"training.steps={STEPS}", "runtime.verbose=0", "export.tflite=null", "export.keras=false"]
    if SPE != "default":
        overrides.append(f"training.steps_per_execution={SPE}")
    if JIT != "default":
        overrides.append(f"training.jit_compile={JIT}")
    timer = SteadyTimer()
    with tempfile.TemporaryDirectory() as out:
        metrics = run(load_recipe("mnist1d_cnn", overrides), output_dir=out, callbacks=[timer])
    timing = metrics["timing"]
    steps = timing["train_steps"]
    per_epoch = math.ceil(3600 / BATCH)
    return {"steady_ms": 1e3 * (timer.end - timer.after_first) / (steps - per_epoch),
            "total_ms": 1e3 * timing["fit_seconds"] / steps, "steps": steps,
            "probe_seconds": timing["probe_seconds"],
            "execution": metrics["stages"][0]["execution"]}


if __name__ == "__main__":
    result = kerasopt_run() if STACK == "kerasopt" else plain_fit()
    result.update(stack=STACK, steps_per_execution=SPE, jit_compile=JIT,
                  versions={"tensorflow": tf.__version__, "keras": keras.__version__})
    print(json.dumps(result))
    sys.stdout.flush()
    np.random.seed(0)
