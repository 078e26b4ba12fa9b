"""Step time of kerasopt's optimizers relative to keras Adam, measured side by side.

Run: `python benchmarks/optimizer_step_time.py [--rounds 5] [--steps 200]`

Every optimizer trains the same small MLP (and a small CNN) on the same random batches,
through `model.fit` (compiled train function, `steps_per_execution=10`). Each round times
one epoch of `--steps` steps for every optimizer in turn (interleaved, so machine load hits
all alike), after an untimed warm-up epoch that traces the function. The printed ratio is the
median over rounds of (optimizer's time / Adam's time in the same round).

Optimizers: every class importable from `kerasopt/optimizers/` that can be built with its
defaults (or, for wrappers taking an `optimizer`, around keras Adam: Lookahead(Adam),
SAM(Adam) ...), plus keras Adam itself. Optimizers with `requires_closure` run through
`kerasopt.training.enable_closure`. Targets: first-order and Lookahead within 1.15x of Adam,
SAM within 2.2x (it computes two gradients per step).
"""

from __future__ import annotations

import argparse
import inspect
import os
import statistics
import time
from collections.abc import Callable
from typing import Any

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

import keras  # noqa: E402
import numpy as np  # noqa: E402

from kerasopt import registry  # noqa: E402


def candidates() -> dict[str, Callable[[], Any]]:
    """Name -> factory for keras Adam and every kerasopt optimizer buildable by default."""
    registry.load_components()
    found: dict[str, Callable[[], Any]] = {"keras.Adam": lambda: keras.optimizers.Adam()}
    for cls in sorted(set(registry._REGISTRY["optimizer"].values()), key=lambda c: c.__name__):
        params = inspect.signature(cls.__init__).parameters
        if "optimizer" in params:
            found[f"{cls.__name__}(Adam)"] = lambda cls=cls: cls(keras.optimizers.Adam())
        elif all(p.default is not p.empty or p.kind in (p.VAR_KEYWORD, p.VAR_POSITIONAL)
                 for name, p in params.items() if name != "self"):
            found[cls.__name__] = cls
    return found


def build_model(kind: str) -> keras.Model:
    keras.utils.set_random_seed(0)
    if kind == "mlp":
        layers = [keras.Input((64,)), keras.layers.Dense(256, activation="relu"),
                  keras.layers.Dense(256, activation="relu"), keras.layers.Dense(10)]
    else:
        layers = [keras.Input((16, 16, 3)), keras.layers.Conv2D(16, 3, activation="relu"),
                  keras.layers.Conv2D(32, 3, activation="relu"), keras.layers.GlobalAveragePooling2D(),
                  keras.layers.Dense(10)]
    return keras.Sequential(layers)


def data(kind: str, steps: int, batch: int = 32) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(0)
    shape = (64,) if kind == "mlp" else (16, 16, 3)
    x = rng.normal(size=(steps * batch, *shape)).astype("float32")
    y = rng.integers(0, 10, size=(steps * batch,))
    return x, y


def prepared(kind: str, make: Callable[[], Any]) -> keras.Model | None:
    try:
        optimizer = make()
    except (TypeError, ValueError) as err:
        print(f"  skipped: {err}")
        return None
    model = build_model(kind)
    model.compile(optimizer=optimizer, loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True),
                  steps_per_execution=10, jit_compile=False)
    if getattr(optimizer, "requires_closure", False):
        from kerasopt.training.closure import enable_closure

        enable_closure(model)
    return model


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--steps", type=int, default=200)
    args = parser.parse_args()
    for kind in ("mlp", "cnn"):
        x, y = data(kind, args.steps)
        models = {}
        for name, make in candidates().items():
            model = prepared(kind, make)
            if model is not None:
                model.fit(x[:320], y[:320], batch_size=32, epochs=1, verbose=0)  # trace, build
                models[name] = model
        times: dict[str, list[float]] = {name: [] for name in models}
        for _ in range(args.rounds):
            for name, model in models.items():
                start = time.perf_counter()
                model.fit(x, y, batch_size=32, epochs=1, shuffle=False, verbose=0)
                times[name].append(time.perf_counter() - start)
        adam = times["keras.Adam"]
        print(f"\n{kind.upper()}: {args.steps} steps/epoch, {args.rounds} interleaved rounds")
        print(f"{'optimizer':32s} {'ms/step':>8s} {'x Adam':>7s}")
        for name, series in times.items():
            ratio = statistics.median(t / a for t, a in zip(series, adam, strict=True))
            print(f"{name:32s} {1000 * statistics.median(series) / args.steps:8.3f} {ratio:7.2f}")


if __name__ == "__main__":
    main()
