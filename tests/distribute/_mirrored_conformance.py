"""Every kerasopt component under `MirroredStrategy` (two logical CPUs) against one device.

Runs in a process of its own, because the two logical CPU devices must be configured
before TensorFlow initializes its devices:

    python -m tests.distribute._mirrored_conformance RESULTS.json

`tests/distribute/test_mirrored.py` starts it once and reads the JSON. Each check is a
function of a strategy that builds a tiny model in the strategy's scope, trains it on a
fixed global batch (`shuffle=False`) and returns its outcome: named arrays (weights,
masks, learning rates, stopping epochs...). A check runs under the default strategy (one
device) and under `MirroredStrategy` over both logical CPUs (the strategy the recipe
runner uses for `runtime: {device: cpu, strategy: mirrored}`); the result is

- `match`: every outcome agrees to `TOLERANCE` (or the check's entry in `TOLERANCES`; relative to the one-device value where that
  exceeds 1 in magnitude, absolute below), and every mirrored variable holds the same
  value on both replicas (a variable written per replica with different values would
  otherwise pass, since `get_weights` reads the first replica only);
- `mismatch`: numbers differ (`max_abs_diff`, `worst`: which outcome) or replicas disagree;
- `refused`: the one-device run succeeded and the mirrored run raised an error whose
  message names `MirroredStrategy` (`message` holds it);
- `error`: anything else (`message` holds the traceback's last lines).

Optimizers are enumerated from the registry (with the hyperparameters of the
optimizer conformance suite, `tests/optimizers/conformance_settings_*.py`), so a newly
registered optimizer is covered without an edit here.
"""

from __future__ import annotations

import json
import sys
import tempfile
import time
import traceback
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

TOLERANCE = 1e-5
# float16 forward passes round differently on a half batch than on the whole batch.
TOLERANCES = {"variant:mixed_float16 loss scaling": 1e-3}


def _configure_devices() -> None:
    import tensorflow as tf

    cpu = tf.config.list_physical_devices("CPU")[0]
    tf.config.set_logical_device_configuration(cpu, [tf.config.LogicalDeviceConfiguration()] * 2)


# ----------------------------------------------------------------------------- fixtures
def _data() -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(0)
    x = rng.normal(size=(16, 4)).astype("float32")
    y = (x @ rng.normal(size=(4, 1)) + 0.1 * rng.normal(size=(16, 1))).astype("float32")
    return x, y


def _mlp(seed: int = 1, hidden: int = 3, batch_norm: bool = False) -> Any:
    import keras

    keras.utils.set_random_seed(seed)
    layers: list[Any] = [keras.Input((4,)), keras.layers.Dense(hidden, activation="tanh", name="hidden")]
    if batch_norm:  # synchronized: batch statistics of the global batch, as on one device
        layers.append(keras.layers.BatchNormalization(synchronized=True, name="norm"))
    layers.append(keras.layers.Dense(1, name="out"))
    return keras.Sequential(layers)


def _weights(model: Any, prefix: str = "w") -> dict[str, np.ndarray]:
    # Keyed without the model's own name (it differs between the two runs).
    return {f"{prefix}{i}:{v.path.split('/', 1)[-1]}": np.asarray(v.numpy())
            for i, v in enumerate(model.weights)}


def replica_spread(variables: list[Any]) -> float:
    """Largest difference between the copies of any mirrored variable on its replicas."""
    spread = 0.0
    for variable in variables:
        value = getattr(variable, "value", variable)
        copies = getattr(value, "values", None)
        if not copies or len(copies) < 2:
            continue
        first = np.asarray(copies[0].numpy(), dtype="float64")
        for other in copies[1:]:
            spread = max(spread, float(np.max(np.abs(first - np.asarray(other.numpy(), "float64")),
                                           initial=0.0)))
    return spread


def _all_variables(model: Any) -> list[Any]:
    optimizer = getattr(model, "optimizer", None)
    return list(model.variables) + (list(optimizer.variables) if optimizer is not None else [])


# ----------------------------------------------------------------------------- optimizers
def optimizer_check(settings: Any) -> Callable[[Any], dict[str, Any]]:
    """A few steps of `settings.make()` on the MLP (line searches: full batch)."""

    def check(strategy: Any) -> dict[str, Any]:
        from kerasopt.training import enable_closure

        x, y = _data()
        # Several passes over the data in one epoch (less per-epoch work than several epochs).
        batch, passes = (16, 5) if settings.full_batch else (8, 2)
        with strategy.scope():
            model = _mlp()
            model.compile(optimizer=settings.make(), loss="mse", jit_compile=False)
        if settings.needs_train_step:
            enable_closure(model)
        model.fit(np.tile(x, (passes, 1)), np.tile(y, (passes, 1)), batch_size=batch, epochs=1,
                  shuffle=False, verbose=0)
        return {**_weights(model), "replica_spread": replica_spread(_all_variables(model))}

    return check


def optimizer_checks() -> dict[str, Callable[[Any], dict[str, Any]]]:
    """One check per registered kerasopt optimizer class (by its first registered name)."""
    from tests.optimizers.test_conformance import REGISTERED, _settings_for

    checks = {}
    for cls, names in REGISTERED.items():
        settings = _settings_for(cls)
        if settings is None:  # the optimizer suite fails for it; say so here too
            raise ValueError(f"{cls.__name__} has no Conformance settings in tests/optimizers/.")
        checks[f"optimizer:{names[0]}"] = optimizer_check(settings)
    return checks


def variant_check(make: Callable[[], Any], policy: str = "float32") -> Callable[[Any], dict[str, Any]]:
    """Four steps of the optimizer `make()` builds (shared Keras arguments) under `policy`."""

    def check(strategy: Any) -> dict[str, Any]:
        import keras

        x, y = _data()
        keras.mixed_precision.set_global_policy(policy)
        try:
            with strategy.scope():
                model = _mlp()
                model.compile(optimizer=make(), loss="mse", jit_compile=False)
            model.fit(np.tile(x, (2, 1)), np.tile(y, (2, 1)), batch_size=8, epochs=1, shuffle=False,
                      verbose=0)
        finally:
            keras.mixed_precision.set_global_policy("float32")
        return {**_weights(model), "replica_spread": replica_spread(_all_variables(model))}

    return check


def variant_checks() -> dict[str, Callable[[Any], dict[str, Any]]]:
    """A kerasopt optimizer with each of Keras's shared optimizer arguments that acts on gradients."""
    import keras

    from kerasopt.optimizers import LazyAdam, RectifiedAdam

    return {
        "variant:clipnorm": variant_check(lambda: LazyAdam(0.05, clipnorm=0.5)),
        "variant:clipvalue": variant_check(lambda: LazyAdam(0.05, clipvalue=0.1)),
        "variant:global_clipnorm+accumulation": variant_check(
            lambda: LazyAdam(0.05, global_clipnorm=0.5, gradient_accumulation_steps=2)),
        "variant:weight_decay+ema": variant_check(
            lambda: RectifiedAdam(0.05, weight_decay=0.1, use_ema=True, ema_momentum=0.5)),
        "variant:mixed_float16 loss scaling": variant_check(
            lambda: keras.optimizers.LossScaleOptimizer(LazyAdam(0.05, global_clipnorm=0.5),
                                                        initial_scale=64.0), "mixed_float16"),
    }


# ----------------------------------------------------------------------------- callbacks
def check_early_stopping(strategy: Any) -> dict[str, Any]:
    """No epoch improves by 10 on the validation loss: stop after patience, restore epoch 1."""
    import keras

    from kerasopt.callbacks import EarlyStopping

    x, y = _data()
    with strategy.scope():
        model = _mlp()
        model.compile(optimizer=keras.optimizers.SGD(0.1), loss="mse")
    stopper = EarlyStopping(monitor="val_loss", min_delta=10.0, patience=2, restore_best_weights=True)
    history = model.fit(x, y, batch_size=8, epochs=10, shuffle=False, verbose=0,
                        validation_data=(x[:8], y[:8]), callbacks=[stopper])
    return {**_weights(model), "epochs_run": float(len(history.epoch)),
            "val_loss": np.asarray(history.history["val_loss"]),
            "replica_spread": replica_spread(_all_variables(model))}


def check_divergence_recovery(strategy: Any) -> dict[str, Any]:
    """SGD at lr 30 blows up; roll-backs halve the rate until training stays finite."""
    import keras

    from kerasopt.callbacks import DivergenceRecovery

    x, y = _data()
    with strategy.scope():
        model = _mlp()
        model.compile(optimizer=keras.optimizers.SGD(30.0), loss="mse")
    recovery = DivergenceRecovery(factor=0.1, max_retries=5, check="batch", snapshot_every_n_steps=1)
    model.fit(x, y * 100.0, batch_size=8, epochs=4, shuffle=False, verbose=0, callbacks=[recovery])
    return {**_weights(model), "retries": float(recovery.retries),
            "learning_rate": float(model.optimizer.learning_rate.numpy()),
            "replica_spread": replica_spread(_all_variables(model))}


def check_weight_averaging(strategy: Any) -> dict[str, Any]:
    """SWA over SGD, then the average swapped in and batch-norm statistics recomputed."""
    import keras

    from kerasopt.optimizers import SWA
    from kerasopt.training import recompute_batch_norm_statistics

    x, y = _data()
    with strategy.scope():
        model = _mlp(batch_norm=True)
        optimizer = SWA(keras.optimizers.SGD(0.1), start_averaging=0, average_period=1)
        model.compile(optimizer=optimizer, loss="mse")
    model.fit(x, y, batch_size=8, epochs=2, shuffle=False, verbose=0)
    optimizer.assign_average_vars(model.trainable_variables)
    recompute_batch_norm_statistics(model, x, batch_size=8)
    return {**_weights(model), "replica_spread": replica_spread(_all_variables(model))}


def check_batch_size_finder(strategy: Any) -> dict[str, Any]:
    """Under a generous cap the finder picks the largest size, leaves no trace, scales the rate."""
    import keras

    from kerasopt.callbacks import BatchSizeFinder

    x, y = _data()
    with strategy.scope():
        model = _mlp()
        model.compile(optimizer=keras.optimizers.SGD(0.1), loss="mse")
    before = _weights(model, "before")
    finder = BatchSizeFinder(max_memory_bytes=2**40, start=4, max_batch_size=16,
                             scale_lr="linear", base_batch_size=8, steps_per_trial=1)
    size = finder.find(model, x, y)
    untouched = max(float(np.max(np.abs(before[k] - v))) for k, v in
                    zip(before, _weights(model, "before").values(), strict=True))
    model.optimizer.learning_rate = finder.learning_rate
    model.fit(x, y, batch_size=size, epochs=2, shuffle=False, verbose=0)
    return {**_weights(model), "batch_size": float(size), "learning_rate": float(finder.learning_rate),
            "trace_left": untouched, "replica_spread": replica_spread(_all_variables(model))}


def check_lr_finder(strategy: Any) -> dict[str, Any]:
    """An LR range test: the same losses at the same rates, the model restored exactly."""
    import keras

    from kerasopt.callbacks import find_learning_rate

    x, y = _data()
    with strategy.scope():
        model = _mlp()
        model.compile(optimizer=keras.optimizers.SGD(0.1), loss="mse")
    before = _weights(model)
    finder = find_learning_rate(model, x, y, batch_size=8, min_lr=1e-3, max_lr=1.0, num_steps=8)
    after = _weights(model)
    return {**after, "restored": max(float(np.max(np.abs(before[k] - after[k]))) for k in before),
            "losses": np.asarray(finder.losses, "float64"), "lrs": np.asarray(finder.lrs, "float64"),
            "replica_spread": replica_spread(_all_variables(model))}


def check_gradient_monitor(strategy: Any) -> dict[str, Any]:
    """Probe-batch gradient norms each step, and AutoClip's clip norm on a kerasopt optimizer."""
    from kerasopt.callbacks import GradientMonitor
    from kerasopt.optimizers import LazyAdam

    x, y = _data()
    with strategy.scope():
        model = _mlp()
        model.compile(optimizer=LazyAdam(0.05), loss="mse")
    monitor = GradientMonitor(every_n_steps=1, clip_percentile=50.0)
    monitor.set_probe(x[:8], y[:8])
    model.fit(x, y, batch_size=8, epochs=2, shuffle=False, verbose=0, callbacks=[monitor])
    norms = {f"norm:{layer}:{key}": float(value) for layer, values in monitor.latest.items()
             for key, value in values.items()}
    return {**_weights(model), **norms, "global_clipnorm": float(model.optimizer.global_clipnorm),
            "replica_spread": replica_spread(_all_variables(model))}


# ----------------------------------------------------------------------------- compression
def _fit(model: Any, x: np.ndarray, y: np.ndarray, callbacks: list[Any] | None = None) -> None:
    model.fit(x, y, batch_size=8, epochs=2, shuffle=False, verbose=0, callbacks=callbacks or [])


def check_pruning(strategy: Any) -> dict[str, Any]:
    import keras

    from kerasopt.compression.pruning import ConstantSparsity, UpdatePruning, prune_low_magnitude

    x, y = _data()
    with strategy.scope():
        model = prune_low_magnitude(_mlp(hidden=8), ConstantSparsity(0.5, begin_step=0, frequency=1))
        model.compile(optimizer=keras.optimizers.Adam(0.05), loss="mse")
    _fit(model, x, y, [UpdatePruning()])
    return {**_weights(model), "replica_spread": replica_spread(_all_variables(model))}


def check_qat(strategy: Any) -> dict[str, Any]:
    import keras

    from kerasopt.compression.quantization import quantize_model

    x, y = _data()
    with strategy.scope():
        model = quantize_model(_mlp(hidden=8))
        model.compile(optimizer=keras.optimizers.Adam(0.05), loss="mse")
    _fit(model, x, y)
    return {**_weights(model), "replica_spread": replica_spread(_all_variables(model))}


def check_clustering(strategy: Any) -> dict[str, Any]:
    import keras

    from kerasopt.compression.clustering import cluster_weights

    x, y = _data()
    with strategy.scope():
        model = cluster_weights(_mlp(hidden=8), number_of_clusters=4)
        model.compile(optimizer=keras.optimizers.Adam(0.05), loss="mse")
    _fit(model, x, y)
    return {**_weights(model), "replica_spread": replica_spread(_all_variables(model))}


def check_distillation(strategy: Any) -> dict[str, Any]:
    import keras

    from kerasopt.compression.distillation import distill

    x, y = _data()
    with strategy.scope():
        teacher = _mlp(seed=2, hidden=8)
        student = _mlp(seed=3, hidden=2)
        distiller = distill(student, teacher, temperature=2.0, alpha=0.5)
        distiller.compile(optimizer=keras.optimizers.Adam(0.05), loss="mse")
    _fit(distiller, x, y)
    return {**_weights(student), "replica_spread": replica_spread(_all_variables(distiller))}


OTHER_CHECKS: dict[str, Callable[[Any], dict[str, Any]]] = {
    "callback:EarlyStopping": check_early_stopping,
    "callback:DivergenceRecovery": check_divergence_recovery,
    "callback:SWA weight averaging": check_weight_averaging,
    "callback:BatchSizeFinder": check_batch_size_finder,
    "callback:LRFinder": check_lr_finder,
    "callback:GradientMonitor": check_gradient_monitor,
    "compression:pruning": check_pruning,
    "compression:qat": check_qat,
    "compression:clustering": check_clustering,
    "compression:distillation": check_distillation,
}


# ----------------------------------------------------------------------------- the runner
def _cli_run(folder: Path, name: str, **sections: Any) -> dict[str, Any]:
    """`kerasopt run` on the tiny recipe with `sections` merged in: exit status, stderr, metrics."""
    import contextlib
    import io

    from kerasopt.cli import main as cli_main
    from tests.tiny_recipe import write_tiny_recipe

    where = folder / name
    where.mkdir()
    recipe = write_tiny_recipe(where, **sections)
    stderr = io.StringIO()
    with contextlib.redirect_stderr(stderr):
        status = cli_main(["run", recipe, "--output-dir", str(where / "run")])
    metrics = where / "run" / "metrics.json"
    return {"exit": status, "stderr": stderr.getvalue(), "wrote": (where / "run").exists(),
            "metrics": json.loads(metrics.read_text()) if metrics.exists() else None}


def runner_checks(folder: Path) -> dict[str, Any]:
    """The runner under `runtime.strategy: mirrored` (both logical CPUs).

    - `refusal`: a Keras Adam with `global_clipnorm` and `gradient_accumulation_steps` is
      refused before anything is written, both problems in one message;
    - `scaled`: an MLP with batch normalization, SGD at lr 0.05 with `scale_learning_rate:
      linear` under two replicas trains exactly as SGD at lr 0.1 on one device
      (`data.batch_size` is the global batch, the rate is multiplied by the replica count,
      and batch norm is synchronized over replicas).
    """
    runtime = {"verbose": 0, "tensorboard": {"enabled": False}, "device": "cpu"}
    refused = _cli_run(folder, "refused", training={
        "epochs": 1, "optimizer": {"type": "adam", "global_clipnorm": 1.0,
                                   "gradient_accumulation_steps": 2}},
        runtime={**runtime, "strategy": "mirrored"})
    model = {"architecture": "mlp", "units": [8], "normalization": "batch"}
    mirrored = _cli_run(folder, "mirrored", model=model, training={
        "epochs": 2, "optimizer": {"type": "sgd", "learning_rate": 0.05}},
        runtime={**runtime, "strategy": "mirrored", "scale_learning_rate": "linear"})
    alone = _cli_run(folder, "one_device", model=model, training={
        "epochs": 2, "optimizer": {"type": "sgd", "learning_rate": 0.1}},
        runtime={**runtime, "strategy": "one_device"})
    return {"refusal": {key: refused[key] for key in ("exit", "stderr", "wrote")},
            "scaled": {"exit": [mirrored["exit"], alone["exit"]],
                       "stderr": mirrored["stderr"] + alone["stderr"],
                       "runtime": [(m or {}).get("runtime") for m in (mirrored["metrics"], alone["metrics"])],
                       "history": [(m or {}).get("stages", [{}])[0].get("history")
                                   for m in (mirrored["metrics"], alone["metrics"])]}}


# ----------------------------------------------------------------------------- comparison
def compare(check: Callable[[Any], dict[str, Any]], mirrored: Any,
            tolerance: float = TOLERANCE) -> dict[str, Any]:
    """Run `check` on one device and under `mirrored`; classify the outcome."""
    import tensorflow as tf

    try:
        alone = check(tf.distribute.get_strategy())
    except Exception:  # noqa: BLE001 - reported, the suite goes on
        return {"status": "error", "message": "one device: " + _last_lines()}
    try:
        spread = check(mirrored)
    except Exception as err:  # noqa: BLE001 - a refusal is an expected outcome for some
        if "MirroredStrategy" in str(err):
            return {"status": "refused", "message": str(err)}
        return {"status": "error", "message": "mirrored: " + _last_lines()}
    worst, diff = "", 0.0
    for key, value in alone.items():
        if key == "replica_spread":
            continue
        other = spread.get(key)
        if other is None or np.shape(other) != np.shape(value):
            return {"status": "mismatch", "worst": key, "message": f"{key}: shapes differ"}
        reference = np.asarray(value, "float64")
        gap = float(np.max(np.abs(reference - np.asarray(other, "float64"))
                           / np.maximum(1.0, np.abs(reference)), initial=0.0))
        if not gap <= diff:
            worst, diff = key, gap
    replicas = float(spread.get("replica_spread", 0.0))
    ok = diff <= tolerance and replicas <= TOLERANCE
    scalars = {k: float(v) for k, v in alone.items() if np.ndim(v) == 0 and k != "replica_spread"}
    return {"status": "match" if ok else "mismatch", "max_abs_diff": diff, "worst": worst,
            "replica_spread": replicas, "outcomes": sorted(alone), "one_device": scalars}


def _last_lines() -> str:
    return "".join(traceback.format_exc().strip().splitlines(keepends=True)[-6:])


def main(path: str) -> None:
    _configure_devices()
    from kerasopt.recipe.session import shared_placement

    # The runner's own strategy object: two MirroredStrategy objects over the same devices
    # in one process collide in their collective keys (see `shared_placement`).
    mirrored = shared_placement("cpu", "mirrored").strategy
    assert [d.upper() for d in mirrored.extended.worker_devices] == [
        f"/JOB:LOCALHOST/REPLICA:0/TASK:0/DEVICE:CPU:{i}" for i in range(2)], mirrored.extended.worker_devices
    results: dict[str, Any] = {}
    for name, check in {**optimizer_checks(), **variant_checks(), **OTHER_CHECKS}.items():
        started = time.perf_counter()
        results[name] = compare(check, mirrored, TOLERANCES.get(name, TOLERANCE))
        results[name]["seconds"] = round(time.perf_counter() - started, 2)
    with tempfile.TemporaryDirectory() as folder:
        results["runner"] = runner_checks(Path(folder))
    with open(path, "w", encoding="utf-8") as handle:
        json.dump(results, handle, indent=1)


if __name__ == "__main__":
    main(sys.argv[1])
