"""Steady-state step time of the MNIST-1D CNN fed in memory vs streamed from TFRecord shards.

Both pipelines come from `kerasopt.data.build_data`: `mnist1d` (the arrays in memory,
the runner's endless numbered passes) and `tfrecord` (the same 4000 training samples
written as `--shards` TFRecord files, read, shuffled by file and within
`--shuffle-shards` files, parsed per batch; `cache: none`, so every epoch reads the
files again). The same model (the paper's CNN: Conv1D 25 k5 s2, Conv1D 25 k3, Conv1D 25
k3, Flatten, Dense 10), batch size and `fit` settings (`steps_per_execution`, XLA off,
as a recipe's default on CPU) are used, and the runner's way of feeding `fit` (the endless
passes with `steps_per_epoch`). The two are run side by side in interleaved rounds (the
order swapped every round).

Per-step time: from `on_epoch_begin` to `on_epoch_end` of the epochs after the first (which
traces), divided by the steps, median over epochs; ratio = median(tfrecord) /
median(in memory) over rounds. Goal (issue 23 item 4): ratio <= 1.1.

Run: `python benchmarks/streaming_tfrecord.py [--rounds 3] [--epochs 4]`; writes
benchmarks/results/streaming_tfrecord.json.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import tempfile
import time
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

import keras  # noqa: E402
import numpy as np  # noqa: E402
import tensorflow as tf  # noqa: E402

from kerasopt.data.build import build_data  # noqa: E402

HERE = Path(__file__).parent
FEATURES = {"x": {"dtype": "float32", "shape": [40, 1]}, "y": {"dtype": "int64", "shape": []}}


class _EpochClock(keras.callbacks.Callback):
    def __init__(self) -> None:
        super().__init__()
        self.seconds: list[float] = []

    def on_epoch_begin(self, epoch, logs=None):
        self._start = time.perf_counter()

    def on_epoch_end(self, epoch, logs=None):
        self.seconds.append(time.perf_counter() - self._start)


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
                  loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True), jit_compile=False)
    return model


def write_shards(folder: Path, x: np.ndarray, y: np.ndarray, prefix: str, shards: int) -> None:
    for index, part in enumerate(np.array_split(np.arange(len(x)), shards)):
        with tf.io.TFRecordWriter(str(folder / f"{prefix}-{index:03d}.tfrecord")) as writer:
            for i in part:
                writer.write(tf.train.Example(features=tf.train.Features(feature={
                    "x": tf.train.Feature(float_list=tf.train.FloatList(value=x[i].ravel())),
                    "y": tf.train.Feature(int64_list=tf.train.Int64List(value=[int(y[i])]))})).SerializeToString())


def per_step_ms(bundle, epochs: int) -> float:
    model = build_model()
    clock = _EpochClock()
    model.fit(bundle.train_endless, steps_per_epoch=bundle.steps_per_epoch, epochs=epochs, verbose=0, shuffle=False,
              callbacks=[clock])
    return statistics.median(s / bundle.steps_per_epoch for s in clock.seconds[1:]) * 1e3


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--epochs", type=int, default=4)
    parser.add_argument("--batch-size", type=int, default=32)
    parser.add_argument("--shards", type=int, default=8)
    parser.add_argument("--shuffle-shards", type=int, default=2)
    parser.add_argument("--output", default=str(HERE / "results" / "streaming_tfrecord.json"))
    args = parser.parse_args()

    memory = build_data("mnist1d", {}, batch_size=args.batch_size, validation_split=0.0, seed=0)
    folder = Path(tempfile.mkdtemp(prefix="streaming_tfrecord_"))
    write_shards(folder, memory.x_train, memory.y_train, "train", args.shards)
    write_shards(folder, memory.x_test, memory.y_test, "test", 1)
    stream = build_data("tfrecord", {"files": str(folder / "train-*.tfrecord"),
                                     "test_files": str(folder / "test-*.tfrecord"), "features": FEATURES,
                                     "num_classes": 10, "shuffle_shards": args.shuffle_shards},
                        batch_size=args.batch_size, validation_split=0.0, seed=0)
    assert stream.steps_per_epoch == memory.steps_per_epoch
    samples: dict[str, list[float]] = {"in memory": [], "tfrecord": []}
    for round_index in range(args.rounds):
        pair = [("in memory", memory), ("tfrecord", stream)]
        if round_index % 2:
            pair.reverse()
        for label, bundle in pair:
            samples[label].append(per_step_ms(bundle, args.epochs))
    rows = {label: {"steady_ms": statistics.median(values), "steady_ms_all": values}
            for label, values in samples.items()}
    ratio = rows["tfrecord"]["steady_ms"] / rows["in memory"]["steady_ms"]
    for label, row in rows.items():
        print(f"{label:>10}: {row['steady_ms']:.3f} ms/step (median of {args.rounds} rounds)")
    print(f"ratio tfrecord / in memory: {ratio:.3f} (goal <= 1.1)")
    result = {"steps_per_epoch": memory.steps_per_epoch, "epochs": args.epochs, "rounds": args.rounds,
              "batch_size": args.batch_size, "shards": args.shards, "shuffle_shards": args.shuffle_shards,
              "rows": rows, "ratio": ratio}
    Path(args.output).write_text(json.dumps(result, indent=2) + "\n")


if __name__ == "__main__":
    main()
