"""Mirrored conformance checks of the stateful callbacks and the compression techniques."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np

from tests.distribute._fixtures import all_variables, data, mlp, replica_spread, weights


def check_early_stopping(strategy: Any) -> dict[str, Any]:
    """No epoch improves by 10 on the validation loss: stop after patience, restore epoch 1."""
    import keras

    from kerasopt.callbacks import EarlyStopping

    x, y = data()
    with strategy.scope():
        model = mlp()
        model.compile(optimizer=keras.optimizers.SGD(0.1), loss="mse")
    stopper = EarlyStopping(monitor="val_loss", min_delta=10.0, patience=2, restore_best_weights=True)
    history = model.fit(x, y, batch_size=8, epochs=10, shuffle=False, verbose=0,
                        validation_data=(x[:8], y[:8]), callbacks=[stopper])
    return {**weights(model), "epochs_run": float(len(history.epoch)),
            "val_loss": np.asarray(history.history["val_loss"]),
            "replica_spread": replica_spread(all_variables(model))}


def check_divergence_recovery(strategy: Any) -> dict[str, Any]:
    """SGD at lr 30 blows up; roll-backs halve the rate until training stays finite."""
    import keras

    from kerasopt.callbacks import DivergenceRecovery

    x, y = data()
    with strategy.scope():
        model = mlp()
        model.compile(optimizer=keras.optimizers.SGD(30.0), loss="mse")
    recovery = DivergenceRecovery(factor=0.1, max_retries=5, check="batch", snapshot_every_n_steps=1)
    model.fit(x, y * 100.0, batch_size=8, epochs=4, shuffle=False, verbose=0, callbacks=[recovery])
    return {**weights(model), "retries": float(recovery.retries),
            "learning_rate": float(model.optimizer.learning_rate.numpy()),
            "replica_spread": replica_spread(all_variables(model))}


def check_weight_averaging(strategy: Any) -> dict[str, Any]:
    """SWA over SGD, then the average swapped in and batch-norm statistics recomputed."""
    import keras

    from kerasopt.optimizers import SWA
    from kerasopt.training import recompute_batch_norm_statistics

    x, y = data()
    with strategy.scope():
        model = mlp(batch_norm=True)
        optimizer = SWA(keras.optimizers.SGD(0.1), start_averaging=0, average_period=1)
        model.compile(optimizer=optimizer, loss="mse")
    model.fit(x, y, batch_size=8, epochs=2, shuffle=False, verbose=0)
    optimizer.assign_average_vars(model.trainable_variables)
    recompute_batch_norm_statistics(model, x, batch_size=8)
    return {**weights(model), "replica_spread": replica_spread(all_variables(model))}


def check_ema(strategy: Any) -> dict[str, Any]:
    """`enable_ema` (start 2, every 2) with `SwapEMAWeights`: averages, EMA validation, EMA at the end."""
    import keras

    from kerasopt.training import enable_ema

    x, y = data()
    with strategy.scope():
        model = mlp(batch_norm=True)
        optimizer = enable_ema(keras.optimizers.SGD(0.1), decay=0.8, start=2, every=2)
        model.compile(optimizer=optimizer, loss="mse")
    history = model.fit(x, y, batch_size=8, epochs=3, shuffle=False, verbose=0,
                        validation_data=(x[:8], y[:8]), callbacks=[keras.callbacks.SwapEMAWeights()])
    return {**weights(model), "val_loss": np.asarray(history.history["val_loss"]),
            "replica_spread": replica_spread(all_variables(model))}


def check_batch_size_finder(strategy: Any) -> dict[str, Any]:
    """Under a generous cap the finder picks the largest size, leaves no trace, scales the rate."""
    import keras

    from kerasopt.callbacks import BatchSizeFinder

    x, y = data()
    with strategy.scope():
        model = mlp()
        model.compile(optimizer=keras.optimizers.SGD(0.1), loss="mse")
    before = weights(model, "before")
    finder = BatchSizeFinder(max_memory_bytes=2**40, start=4, max_batch_size=16,
                             scale_lr="linear", base_batch_size=8, steps_per_trial=1)
    size = finder.find(model, x, y)
    untouched = max(float(np.max(np.abs(before[k] - v))) for k, v in
                    zip(before, weights(model, "before").values(), strict=True))
    model.optimizer.learning_rate = finder.learning_rate
    model.fit(x, y, batch_size=size, epochs=2, shuffle=False, verbose=0)
    return {**weights(model), "batch_size": float(size), "learning_rate": float(finder.learning_rate),
            "trace_left": untouched, "replica_spread": replica_spread(all_variables(model))}


def check_lr_finder(strategy: Any) -> dict[str, Any]:
    """An LR range test: the same losses at the same rates, the model restored exactly."""
    import keras

    from kerasopt.callbacks import find_learning_rate

    x, y = data()
    with strategy.scope():
        model = mlp()
        model.compile(optimizer=keras.optimizers.SGD(0.1), loss="mse")
    before = weights(model)
    finder = find_learning_rate(model, x, y, batch_size=8, min_lr=1e-3, max_lr=1.0, num_steps=8)
    after = weights(model)
    return {**after, "restored": max(float(np.max(np.abs(before[k] - after[k]))) for k in before),
            "losses": np.asarray(finder.losses, "float64"), "lrs": np.asarray(finder.lrs, "float64"),
            "replica_spread": replica_spread(all_variables(model))}


def check_gradient_monitor(strategy: Any) -> dict[str, Any]:
    """Probe-batch gradient norms each step, and AutoClip's clip norm on a kerasopt optimizer."""
    from kerasopt.callbacks import GradientMonitor
    from kerasopt.optimizers import LazyAdam

    x, y = data()
    with strategy.scope():
        model = mlp()
        model.compile(optimizer=LazyAdam(0.05), loss="mse")
    monitor = GradientMonitor(every_n_steps=1, clip_percentile=50.0)
    monitor.set_probe(x[:8], y[:8])
    model.fit(x, y, batch_size=8, epochs=2, shuffle=False, verbose=0, callbacks=[monitor])
    norms = {f"norm:{layer}:{key}": float(value) for layer, values in monitor.latest.items()
             for key, value in values.items()}
    return {**weights(model), **norms, "global_clipnorm": float(model.optimizer.global_clipnorm),
            "replica_spread": replica_spread(all_variables(model))}


# ----------------------------------------------------------------------------- compression
def _fit(model: Any, x: np.ndarray, y: np.ndarray, callbacks: list[Any] | None = None) -> None:
    model.fit(x, y, batch_size=8, epochs=2, shuffle=False, verbose=0, callbacks=callbacks or [])


def _check_wrapped(strategy: Any, wrap: Any, callbacks: Any = ()) -> dict[str, Any]:
    """Fit `wrap(mlp)` (a compression wrapper) under `strategy`; its weights and replica spread."""
    import keras

    x, y = data()
    with strategy.scope():
        model = wrap(mlp(hidden=8))
        model.compile(optimizer=keras.optimizers.Adam(0.05), loss="mse")
    _fit(model, x, y, list(callbacks))
    return {**weights(model), "replica_spread": replica_spread(all_variables(model))}


def check_pruning(strategy: Any) -> dict[str, Any]:
    from kerasopt.compression.pruning import ConstantSparsity, UpdatePruning, prune_low_magnitude

    schedule = ConstantSparsity(0.5, begin_step=0, frequency=1)
    return _check_wrapped(strategy, lambda model: prune_low_magnitude(model, schedule), [UpdatePruning()])


def check_qat(strategy: Any) -> dict[str, Any]:
    from kerasopt.compression.quantization import quantize_model

    return _check_wrapped(strategy, quantize_model)


def check_clustering(strategy: Any) -> dict[str, Any]:
    from kerasopt.compression.clustering import cluster_weights

    return _check_wrapped(strategy, lambda model: cluster_weights(model, number_of_clusters=4))


def check_lora(strategy: Any) -> dict[str, Any]:
    """LoRA rank 2 on both Dense layers: only the factors train (Keras's `enable_lora`)."""
    from kerasopt.models import apply_lora

    def wrap(model: Any) -> Any:
        apply_lora(model, rank=2)
        return model

    return _check_wrapped(strategy, wrap)


def check_distillation(strategy: Any) -> dict[str, Any]:
    """Logits and feature distillation (through an adapter) of a 3-class softmax student
    with an L2 regularizer, under the runner's global-batch loss: the weights and every
    logged loss. 13 samples in batches of 6: the last batch (1 sample) leaves a replica
    empty; validation on 7 samples splits 4 and 3."""
    import keras

    from kerasopt.compression.distillation import distill
    from kerasopt.distribute.global_batch_loss import global_batch_mean_loss

    x = data()[0][:13]
    y = np.argmax(x[:, :3], axis=1)

    def classifier(seed: int, hidden: int, regularizer: Any = None) -> Any:
        keras.utils.set_random_seed(seed)
        return keras.Sequential([
            keras.Input((4,)),
            keras.layers.Dense(hidden, activation="tanh", kernel_regularizer=regularizer, name="hidden"),
            keras.layers.Dense(3, activation="softmax", name="out")])

    with strategy.scope():
        teacher = classifier(2, 8)
        student = classifier(3, 4, keras.regularizers.L2(0.01))
        distiller = distill(student, teacher, temperature=2.0, alpha=0.7, features=[("hidden", "hidden")],
                            feature_weight=0.5)
        distiller.compile(optimizer=keras.optimizers.SGD(0.5), loss="sparse_categorical_crossentropy")
    with global_batch_mean_loss():  # as the runner trains under several replicas
        history = distiller.fit(x, y, batch_size=6, epochs=2, shuffle=False, verbose=0,
                                validation_data=(x[:7], y[:7]))
    logs = {key: np.asarray(values) for key, values in history.history.items()}
    return {**weights(distiller), **logs,
            "first_distillation_loss": float(logs["distillation_loss"][0]),
            "replica_spread": replica_spread(all_variables(distiller))}


def _check_line_search_with_synchronized_batch_norm(name: str) -> Callable[[Any], dict[str, Any]]:
    """A line-search optimizer on the full batch through synchronized batch norm (which the
    README tells plain-Keras users to set): it used to fail on the first step under two replicas."""

    def check(strategy: Any) -> dict[str, Any]:
        from kerasopt import optimizers

        x, y = data()
        with strategy.scope():
            model = mlp(batch_norm=True)
            model.compile(optimizer=getattr(optimizers, name)(), loss="mse")
        history = model.fit(x, y, batch_size=len(x), epochs=3, shuffle=False, verbose=0)
        return {**weights(model), "loss": np.asarray(history.history["loss"]),
                "trained": float(history.history["loss"][-1] < history.history["loss"][0]),
                "replica_spread": replica_spread(all_variables(model))}

    return check


OTHER_CHECKS: dict[str, Callable[[Any], dict[str, Any]]] = {
    "synchronized batch norm:LBFGS": _check_line_search_with_synchronized_batch_norm("LBFGS"),
    "synchronized batch norm:ConjugateGradient": _check_line_search_with_synchronized_batch_norm(
        "ConjugateGradient"),
    "callback:EarlyStopping": check_early_stopping,
    "callback:DivergenceRecovery": check_divergence_recovery,
    "callback:SWA weight averaging": check_weight_averaging,
    "callback:EMA of the weights": check_ema,
    "callback:BatchSizeFinder": check_batch_size_finder,
    "callback:LRFinder": check_lr_finder,
    "callback:GradientMonitor": check_gradient_monitor,
    "compression:pruning": check_pruning,
    "compression:qat": check_qat,
    "compression:clustering": check_clustering,
    "compression:distillation": check_distillation,
    "compression:lora": check_lora,
}

