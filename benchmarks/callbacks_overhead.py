"""Per-step time added by kerasopt's callbacks at their default frequency (mnist1d CNN).

Trains the mnist1d CNN (Conv1D 25 k5 s2, Conv1D 25 k3, Conv1D 25 k3, Flatten, Dense 10)
without callbacks and with kerasopt's callbacks, in interleaved runs (the order is
swapped every round), and prints the per-step time ratio for all of them together and
for each alone. The callbacks are whatever `kerasopt/callbacks/` holds when it runs:
every public `keras.callbacks.Callback` subclass that builds with its defaults, except
base classes of other callbacks and `LRFinder` (it changes the learning rate and stops
training: not a monitor).
`GradientMonitor` gets a 128-sample probe batch; callbacks with a `log_dir` argument
write TensorBoard files into a temporary folder (as a recipe run's would), removed at
the end.

Per-step time: from `on_epoch_begin` to the start of that epoch's validation
(`on_test_begin`; validation and epoch-end hooks excluded), divided by the steps, median
over epochs after the first (which traces); ratio = median(with) / median(without)
over rounds.

Run: `python benchmarks/callbacks_overhead.py [--rounds 3] [--epochs 4]`.
"""

from __future__ import annotations

import argparse
import importlib
import inspect
import os
import pkgutil
import shutil
import statistics
import tempfile
import time

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

import keras  # noqa: E402
import numpy as np  # noqa: E402
from mnist1d.data import get_dataset_args, make_dataset  # noqa: E402

import kerasopt.callbacks  # noqa: E402

EXCLUDED = {"LRFinder"}


class _EpochClock(keras.callbacks.Callback):
    """Start (first in the list) and end (validation start) of each epoch's batch loop."""

    def __init__(self, role: str, record: dict[str, list[float]]) -> None:
        super().__init__()
        self.role, self.record = role, record

    def on_epoch_begin(self, epoch, logs=None):
        if self.role == "start":
            self.record["start"].append(time.perf_counter())

    def on_test_begin(self, logs=None):
        # Validation starts right after the epoch's last train batch. (Overriding
        # `on_train_batch_end` here would turn off Keras's asynchronous batch-end
        # dispatch for every run and hide that cost of the callbacks measured.)
        if self.role == "stop":
            self.record["stop"].append(time.perf_counter())


def build_model(seed: int = 0) -> keras.Model:
    keras.utils.set_random_seed(seed)
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


def discover() -> dict[str, type]:
    """Public Callback subclasses defined in kerasopt/callbacks/ (minus EXCLUDED)."""
    found = {}
    for info in pkgutil.iter_modules(kerasopt.callbacks.__path__):
        if info.name.startswith("_"):
            continue
        module = importlib.import_module(f"kerasopt.callbacks.{info.name}")
        for name, cls in inspect.getmembers(module, inspect.isclass):
            if (cls.__module__ == module.__name__ and not name.startswith("_")
                    and issubclass(cls, keras.callbacks.Callback) and name not in EXCLUDED):
                found[name] = cls
    # A base class of another discovered callback (e.g. MonitorCallback) is not measured.
    return {name: cls for name, cls in found.items()
            if not any(other is not cls and issubclass(other, cls) for other in found.values())}


def make_callbacks(classes: dict[str, type], names: list[str], probe, log_dir: str) -> list:
    """Build with defaults; a `log_dir` argument gets a temporary folder, as a run's would."""
    out = []
    for name in names:
        cls = classes[name]
        takes_log_dir = "log_dir" in inspect.signature(cls.__init__).parameters
        callback = cls(log_dir=os.path.join(log_dir, name)) if takes_log_dir else cls()
        if hasattr(callback, "set_probe"):
            callback.set_probe(*probe)
        out.append(callback)
    return out


def per_step_time(data, callbacks: list, epochs: int, batch_size: int) -> float:
    record: dict[str, list[float]] = {"start": [], "stop": []}
    model = build_model()
    clocks = [_EpochClock("start", record), *callbacks, _EpochClock("stop", record)]
    model.fit(data["x"], data["y"], batch_size=batch_size, epochs=epochs, verbose=0,
              validation_data=(data["x_test"], data["y_test"]), callbacks=clocks)
    steps = int(np.ceil(len(data["x"]) / batch_size))
    times = [(b - a) / steps for a, b in zip(record["start"][1:], record["stop"][1:], strict=True)]
    return statistics.median(times)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--epochs", type=int, default=4)
    parser.add_argument("--batch-size", type=int, default=32)
    args = parser.parse_args()

    raw = make_dataset(get_dataset_args())
    data = {key: np.asarray(raw[key]) for key in ("x", "y", "x_test", "y_test")}
    for key in ("x", "x_test"):
        data[key] = data[key].astype("float32")[..., None]
    probe = (data["x"][:128], data["y"][:128])
    log_dir = tempfile.mkdtemp(prefix="callbacks_overhead_")

    classes = {}
    for name, cls in discover().items():
        try:
            make_callbacks({name: cls}, [name], probe, log_dir)
        except (TypeError, ValueError) as err:
            print(f"skipped {name}: does not build with its defaults ({err})")
            continue
        classes[name] = cls
    print(f"callbacks measured: {', '.join(classes) or 'none'}")
    configs = {"all": list(classes), **{name: [name] for name in classes}}
    baseline: list[float] = []
    timings: dict[str, list[float]] = {key: [] for key in configs}
    for round_index in range(args.rounds):
        for key, names in configs.items():
            pair = [("base", []), (key, make_callbacks(classes, names, probe, log_dir))]
            if round_index % 2:
                pair.reverse()
            for label, callbacks in pair:
                seconds = per_step_time(data, callbacks, args.epochs, args.batch_size)
                (baseline if label == "base" else timings[key]).append(seconds)
    base = statistics.median(baseline)
    print(f"baseline: {base * 1e3:.3f} ms/step (median of {len(baseline)} runs)")
    for key, values in timings.items():
        ratio = statistics.median(values) / base
        print(f"{key:>24}: {statistics.median(values) * 1e3:.3f} ms/step, ratio {ratio:.3f} "
              f"({(ratio - 1) * 100:+.1f}%)")
    shutil.rmtree(log_dir, ignore_errors=True)


if __name__ == "__main__":
    main()
