"""The steps of a run, each taking the validated recipe and plain objects.

:mod:`kerasopt.recipe.runner` calls these in order; they import Keras and TensorFlow.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import keras
import numpy as np

from kerasopt.distribute.device import Placement, select_placement
from kerasopt.recipe import assemble
from kerasopt.recipe.run_dir import RunDirectory
from kerasopt.recipe.schema import Recipe, Runtime
from kerasopt.recipe.schema_training import Training

PRUNABLE = ("Dense", "Conv1D", "Conv2D", "Conv3D", "DepthwiseConv1D", "DepthwiseConv2D",
            "SeparableConv1D", "SeparableConv2D", "EinsumDense")


class RunError(RuntimeError):
    """A recipe that validated but cannot run as written; the message names the recipe key."""


def start(runtime: Runtime, seed: int) -> Placement:
    """Seed everything, set determinism and precision, choose the device and strategy."""
    import tensorflow as tf

    placement = select_placement(runtime.device, runtime.strategy)
    keras.utils.set_random_seed(seed)
    if runtime.deterministic:
        tf.config.experimental.enable_op_determinism()
    if runtime.mixed_precision != "none":
        keras.mixed_precision.set_global_policy(runtime.mixed_precision)
    return placement


def finish() -> None:
    """Undo process-wide settings a run made (the precision policy), so the next run starts clean."""
    keras.mixed_precision.set_global_policy("float32")


PROVISIONAL_BATCH_SIZE = 32  # for `batch_size: auto`, until the search has run


def build_data(recipe: Recipe, batch_size: int | None = None) -> Any:
    """The data bundle of the recipe's `data:` section (with `batch_size` if given)."""
    from kerasopt.data.build import build_data as build

    section = recipe.data
    if batch_size is None:
        batch_size = PROVISIONAL_BATCH_SIZE if section.batch_size == "auto" else section.batch_size
    return build(
        section.source, options=section.source_options(), batch_size=batch_size,
        validation_split=section.validation_split, test_split=section.test_split,
        stratify=section.stratify, normalization=section.normalization, shuffle=section.shuffle,
        augmentation=[a.options() for a in section.augmentation], seed=recipe.seed,
        limit=section.limit)


def build_model(recipe: Recipe, data: Any) -> Any:
    """Build the model of the `model:` section; apply LSUV when asked for."""
    from kerasopt.models.build import build_model as build

    spec = recipe.model.model_dump()
    if isinstance(spec.get("activation"), dict):
        spec["activation"] = spec["activation"]["type"]  # activations are functions: a name, no arguments
    try:
        model = build(spec, input_shape=tuple(data.input_shape), num_classes=data.num_classes,
                      normalizer=data.normalizer, seed=recipe.seed)
    except ValueError as err:
        if type(err).__module__.startswith("kerasopt"):
            raise
        raise RunError(f"model: the model does not fit the data (input shape "
                       f"{tuple(data.input_shape)}): {err}") from None
    _apply_lsuv(model, spec.get("kernel_initializer"), data)
    return model


def _apply_lsuv(model: Any, model_initializer: Any, data: Any) -> None:
    """LSUV's data-dependent step, for `kernel_initializer: lsuv` on the model or on any layer."""
    from kerasopt import registry
    from kerasopt.initializers.lsuv import LSUV, lsuv_initialize

    markers = [layer.kernel_initializer for layer in _all_layers(model)
               if isinstance(getattr(layer, "kernel_initializer", None), LSUV)]
    if isinstance(model_initializer, dict) and registry.get(
            "initializer", model_initializer["type"]) is LSUV:
        markers.insert(0, registry.build("initializer", model_initializer))
    if markers:
        options = markers[0].get_config()
        lsuv_initialize(model, data.x_train[: min(len(data.x_train), 512)],
                        tol_var=options["tol_var"], max_iter=options["max_iter"])


def search_batch_size(recipe: Recipe, training: Training, model: Any, data: Any,
                      placement: Placement) -> dict[str, Any]:
    """`batch_size: auto`: the largest batch within the memory cap, and the learning-rate factor.

    Returns:
        `{"batch_size", "lr_factor", "trials"}`; `lr_factor` multiplies every float
        learning rate of the recipe (1.0 unless `scale_lr` asks for scaling).
    """
    from kerasopt.callbacks.batch_size_finder import BatchSizeFinder

    finder = BatchSizeFinder(**recipe.data.batch_size_search.arguments())
    optimizer, _ = compile_stage(training, model, data, placement)
    before = float(keras.ops.convert_to_numpy(optimizer.learning_rate))
    y = data.y_train
    if getattr(data, "soft_labels", False):
        y = keras.utils.to_categorical(y, data.num_classes)
    size = finder.find(model, data.x_train, y)
    factor = finder.learning_rate / before if finder.learning_rate is not None else 1.0
    return {"batch_size": int(size), "lr_factor": float(factor), "trials": finder.trials}


def compile_stage(training: Training, model: Any, data: Any, placement: Placement,
                  lr_factor: float = 1.0) -> tuple[Any, bool]:
    """Compile the model with a stage's optimizer, loss and metrics.

    Args:
        lr_factor: Multiplies a float `learning_rate` (batch-size scaling). Defaults to `1.0`.

    Returns:
        The optimizer, and whether its learning rate is to come from the LR range test.
    """
    plan = assemble.plan_stage(training, data.steps_per_epoch)
    optimizer_spec = assemble.resolve_durations(training.optimizer, plan)
    rate = optimizer_spec.get("learning_rate")
    if lr_factor != 1.0 and isinstance(rate, (int, float)) and not isinstance(rate, bool):
        optimizer_spec = {**optimizer_spec, "learning_rate": rate * lr_factor}
    lr_auto = optimizer_spec.get("learning_rate") == "auto"
    if lr_auto:
        optimizer_spec = {**optimizer_spec, "learning_rate": 1e-3}
    from kerasopt import registry

    with placement.strategy.scope():
        optimizer = registry.build("optimizer", optimizer_spec)
        loss = (assemble.keras_argument("loss", training.loss) if training.loss
                else assemble.default_loss(data.task, getattr(data, "soft_labels", False)))
        metrics = ([assemble.keras_argument("metric", m) for m in training.metrics]
                   if training.metrics is not None else assemble.default_metrics(data.task))
        if getattr(optimizer, "requires_closure", False):
            from kerasopt.training.closure import enable_closure

            enable_closure(model)
        model.compile(optimizer=optimizer, loss=loss, metrics=metrics,
                      steps_per_execution=training.steps_per_execution,
                      jit_compile=training.jit_compile)
    return optimizer, lr_auto


def fit_stage(recipe: Recipe, name: str, training: Training, model: Any, data: Any,
              placement: Placement, run_dir: RunDirectory,
              lr_factor: float = 1.0) -> tuple[dict[str, list[float]], int, int]:
    """Compile and fit one stage.

    Returns:
        The history of this `fit`, and the stage's optimizer steps and epochs in all (a
        stage resumed from a backup counts the steps and epochs before the interruption).
    """
    plan = assemble.plan_stage(training, data.steps_per_epoch)
    optimizer, lr_auto = compile_stage(training, model, data, placement, lr_factor)
    if lr_auto:
        _apply_lr_finder(model, data, optimizer, run_dir, name)
    log_dir = str(run_dir.logs) if recipe.runtime.tensorboard.enabled and run_dir.is_chief else None
    callbacks = assemble.build_callbacks(training.callbacks, plan, log_dir)
    _set_probes(callbacks, data)
    callbacks += _run_callbacks(recipe, plan, run_dir, name, log_dir)
    class_weight = training.class_weight
    if class_weight == "balanced":
        class_weight = assemble.balanced_class_weight(data.y_train, data.num_classes or 1)
    start_step = int(optimizer.iterations.numpy())
    history = model.fit(
        data.train, validation_data=data.validation, epochs=plan.epochs,
        callbacks=callbacks, class_weight=class_weight, validation_freq=training.validation_freq,
        verbose=recipe.runtime.verbose, shuffle=False)
    steps = int(optimizer.iterations.numpy()) - start_step
    _finish_averaging(model, optimizer, data)
    clean = {k: [float(v) for v in values] for k, values in history.history.items()}
    epochs = history.epoch[-1] + 1 if history.epoch else 0  # a resumed fit starts past 0
    return clean, steps, epochs


def _finish_averaging(model: Any, optimizer: Any, data: Any) -> None:
    """After SWA: swap in the averaged weights, then recompute batch-norm statistics for them."""
    from kerasopt.optimizers.swa import SWA

    if isinstance(optimizer, SWA):
        from kerasopt.training.batch_norm import recompute_batch_norm_statistics

        optimizer.assign_average_vars(model.trainable_variables)
        recompute_batch_norm_statistics(model, data.x_train, batch_size=data.batch_size)


def _set_probes(callbacks: list[Any], data: Any) -> None:
    """Give callbacks that watch a fixed batch (GradientMonitor) the first training batch."""
    wanting = [c for c in callbacks if callable(getattr(c, "set_probe", None))]
    if wanting:
        x, y = next(iter(data.train.take(1)))[:2]
        for callback in wanting:
            callback.set_probe(x, y)


def _run_callbacks(recipe: Recipe, plan: assemble.StagePlan, run_dir: RunDirectory, stage: str,
                   log_dir: str | None) -> list[Any]:
    from kerasopt.recipe.run_callbacks import EpochBackup, StepLimit, WeightNormLogger

    callbacks: list[Any] = []
    if plan.total_steps < plan.epochs * plan.steps_per_epoch:
        callbacks.append(StepLimit(plan.total_steps))
    if run_dir.is_chief:
        # About ten backups per stage at most: resuming repeats at most a tenth of the stage.
        callbacks.append(EpochBackup(str(run_dir.checkpoints / f"backup_{stage}"),
                                     every_epochs=max(1, plan.epochs // 10)))
    board = recipe.runtime.tensorboard
    if log_dir is not None:
        from kerasopt.callbacks.tensorboard import TensorBoard

        callbacks.append(TensorBoard(
            log_dir=log_dir, update_freq=board.update_freq, histogram_freq=board.histogram_freq,
            write_graph=False))
        if board.weight_norms:
            callbacks.append(WeightNormLogger(log_dir))
    return callbacks


def _apply_lr_finder(model: Any, data: Any, optimizer: Any, run_dir: RunDirectory, stage: str) -> None:
    from kerasopt.callbacks.lr_finder import find_learning_rate

    plot = run_dir.path(f"lr_find_{stage}.png") if run_dir.is_chief else None
    finder = find_learning_rate(model, data.train, plot_path=str(plot) if plot else None)
    optimizer.learning_rate = float(finder.suggestion)
    print(f"kerasopt: LR range test suggests learning_rate={finder.suggestion:.3g} (stage {stage!r})")


def evaluate(model: Any, data: Any, splits: tuple[str, ...] = ("validation", "test")) -> dict[str, Any]:
    """Loss and metrics of the model on each split that exists."""
    results: dict[str, Any] = {}
    for split in splits:
        dataset = getattr(data, split, None)
        if dataset is None:
            continue
        values = model.evaluate(dataset, verbose=0, return_dict=True)
        results[split] = {k: float(v) for k, v in values.items()}
    return results


def sparsity(model: Any) -> float:
    """Fraction of exact zeros in the kernels of prunable layers (Dense, Conv...)."""
    zeros = total = 0
    for layer in _all_layers(model):
        if type(layer).__name__ in PRUNABLE:
            for weight in layer.weights:
                if "kernel" in weight.path:
                    values = np.asarray(keras.ops.convert_to_numpy(weight))
                    zeros += int(np.count_nonzero(values == 0))
                    total += values.size
    return float(zeros / total) if total else 0.0


def _all_layers(model: Any) -> list[Any]:
    layers = []
    for layer in model.layers:
        layers.append(layer)
        if hasattr(layer, "layers"):
            layers.extend(_all_layers(layer))
    return layers


def export(recipe: Recipe, model: Any, data: Any, run_dir: RunDirectory) -> dict[str, Any]:
    """Write the exports the recipe asks for; verify TFLite files on the test split."""
    from kerasopt.export import keras_format, saved_model, tflite, tflite_verify

    section = recipe.export
    exports: dict[str, Any] = {}
    if not run_dir.is_chief:
        return exports
    if section.keras:
        exports["keras"] = _relative(keras_format.export_keras(model, run_dir.path("model.keras")), run_dir)
    if section.saved_model:
        exports["saved_model"] = _relative(
            saved_model.export_saved_model(model, run_dir.path("saved_model")), run_dir)
    if section.tflite is not None:
        options = section.tflite
        outputs = model.predict(data.x_test, verbose=0)
        wanted = [("tflite", "model.tflite", options.quantization)]
        if options.quantization != "none" and options.float_baseline:
            wanted.append(("tflite_float", "model_float.tflite", "none"))
        for key, filename, quantization in wanted:
            info = tflite.export_tflite(
                model, run_dir.path(filename), quantization=quantization,
                representative_data=data.x_train, num_representative=options.representative_samples)
            if options.verify:
                info.update(tflite_verify.verify_tflite(
                    run_dir.path(filename), data.x_test, data.y_test, keras_outputs=outputs,
                    task=data.task))
            exports[key] = _relative(info, run_dir)
    return exports


def _relative(info: dict[str, Any], run_dir: RunDirectory) -> dict[str, Any]:
    path = Path(info["path"])
    try:
        info["path"] = str(path.relative_to(run_dir.root))
    except ValueError:
        info["path"] = str(path)
    return info
