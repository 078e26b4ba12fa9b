"""The steps of a run, each taking the validated recipe and plain objects.

:mod:`kerasopt.recipe.run.runner` calls these in order; they import Keras and TensorFlow.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import keras
import numpy as np

from kerasopt.distribute.device import Placement, select_placement
from kerasopt.distribute.local_predict import predict_locally
from kerasopt.recipe.errors import RunFailed
from kerasopt.recipe.format.schema import Recipe, Runtime
from kerasopt.recipe.store.run_dir import RunDirectory


def start(runtime: Runtime, seed: int) -> Placement:
    """Seed everything, set determinism and precision, choose the device and strategy."""
    import tensorflow as tf

    placement = select_placement(runtime.device, runtime.strategy)
    keras.utils.set_random_seed(seed)
    if runtime.deterministic:
        tf.config.experimental.enable_op_determinism()
    policy = precision_policy(runtime.mixed_precision, placement.device)
    if policy != "float32":
        keras.mixed_precision.set_global_policy(policy)
    return placement


def precision_policy(mixed_precision: str, device: str) -> str:
    """The Keras dtype policy for `runtime.mixed_precision` on `device`.

    `auto` picks what each device runs fast and safely: `mixed_float16` on a GPU (Keras's
    `compile` then wraps the optimizer in a `LossScaleOptimizer`, which scales the loss
    dynamically so float16 gradients do not underflow), `mixed_bfloat16` on a TPU (bfloat16
    has float32's exponent range, so no loss scaling), and float32 on a CPU (where
    half-precision math is emulated and rarely faster).

    Example:
        >>> precision_policy("auto", "gpu"), precision_policy("auto", "cpu")
        ('mixed_float16', 'float32')
        >>> precision_policy("mixed_bfloat16", "cpu")
        'mixed_bfloat16'
    """
    if mixed_precision == "auto":
        return {"gpu": "mixed_float16", "tpu": "mixed_bfloat16"}.get(device, "float32")
    return "float32" if mixed_precision == "none" else mixed_precision


def finish() -> None:
    """Undo process-wide settings a run made (the precision policy), so the next run starts clean."""
    keras.mixed_precision.set_global_policy("float32")


PROVISIONAL_BATCH_SIZE = 32  # for `batch_size: auto`, until the search has run


def build_data(recipe: Recipe, batch_size: int | None = None, loss: Any = None) -> Any:
    """The data bundle of the recipe's `data:` section (with `batch_size` if given).

    `loss` (the first stage's, or None) and the model's `output_activation` decide the
    output layer and the label encoding (`data.output`).
    """
    from kerasopt.data.build import build_data as build
    from kerasopt.data.catalog import get_source
    from kerasopt.data.streaming_source import StreamingSource

    section = recipe.data
    if batch_size is None:
        batch_size = PROVISIONAL_BATCH_SIZE if section.batch_size == "auto" else section.batch_size
    validation_split = section.validation_split
    if issubclass(get_source(section.source), StreamingSource) and "validation_split" not in section.model_fields_set:
        validation_split = 0.0  # a streaming source's validation split is its own files
    return build(
        section.source, options=section.source_options(), batch_size=batch_size,
        validation_split=validation_split, test_split=section.test_split,
        stratify=section.stratify, normalization=section.normalization, shuffle=section.shuffle,
        augmentation=[a.options() for a in section.augmentation], seed=recipe.seed,
        limit=section.limit, loss=loss,
        output_activation=getattr(recipe.model, "output_activation", "auto"))


def check_streamed(recipe: Recipe, stages: Any, data: Any) -> None:
    """Refuse, before anything is written, the recipe keys that need a streaming source's training arrays.

    Raises:
        kerasopt.data.errors.DataError: For `data.batch_size: auto` or a stage's
            `class_weight: balanced` with a streaming source.
    """
    from kerasopt.data.data_problem import DataProblem
    from kerasopt.data.stream import NotInMemory

    if not isinstance(data.x_train, NotInMemory):
        return
    wanted = [DataProblem("batch_size", "", "auto")] if recipe.data.batch_size == "auto" else []
    wanted += [DataProblem("class_weight", "", "balanced", section="training")
               for stage in stages if stage.training.class_weight == "balanced"][:1]
    for problem in wanted:
        try:
            data.x_train.refuse()
        except ValueError as err:
            raise DataProblem(problem.key, f"`{problem.key}: {problem.received}` {err}", problem.received,
                              section=problem.section).error() from None


def build_model(recipe: Recipe, data: Any, section: Any = None) -> Any:
    """Build the model of the `model:` section (or of `section`, a stage's own `model:`)."""
    from kerasopt.models.build import build_model as build

    spec = (section if section is not None else recipe.model).model_dump()
    if isinstance(spec.get("activation"), dict):
        spec["activation"] = spec["activation"]["type"]  # activations are functions: a name, no arguments
    try:
        model = build(spec, input_shape=tuple(data.input_shape), num_classes=data.num_classes,
                      normalizer=data.normalizer, seed=recipe.seed, head=data.output.head,
                      mask_value=getattr(data, "mask_value", None))
    except ValueError as err:
        if type(err).__module__.startswith("kerasopt"):
            raise
        raise RunFailed(f"model: the model does not fit the data (input shape "
                       f"{tuple(data.input_shape)}): {err}") from None
    return model


def search_batch_size(recipe: Recipe, optimizer: Any, model: Any, data: Any) -> dict[str, Any]:
    """`batch_size: auto`: the largest batch within the memory cap, and the learning-rate factor.

    Args:
        recipe: The recipe (its `data.batch_size_search` settings).
        optimizer: The compiled model's optimizer (its learning rate is the one to scale).
        model: The compiled model.
        data: The data bundle built with the provisional batch size.

    Returns:
        `{"batch_size", "lr_factor", "trials"}`; `lr_factor` multiplies every float
        learning rate of the recipe (1.0 unless `scale_lr` asks for scaling).
    """
    from kerasopt.callbacks.batch_size_finder import BatchSizeFinder

    finder = BatchSizeFinder(**recipe.data.batch_size_search.arguments())
    before = float(keras.ops.convert_to_numpy(optimizer.learning_rate))
    size = finder.find(model, data.x_train, data.output.encode(data.y_train))
    factor = finder.learning_rate / before if finder.learning_rate is not None else 1.0
    return {"batch_size": int(size), "lr_factor": float(factor), "trials": finder.trials}


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


def export(recipe: Recipe, model: Any, data: Any, run_dir: RunDirectory,
           baseline: Any = None) -> dict[str, Any]:
    """Write the exports the recipe asks for; verify TFLite and ONNX files on the test split.

    Args:
        recipe: The recipe (its `export:` section).
        model: The trained model, as exported.
        data: The data bundle (test split for verification, training inputs for calibration).
        run_dir: Where the files go.
        baseline: The model before any compression stage; its float TFLite is
            `tflite_float`. Defaults to `None` (the float TFLite of `model`).

    Returns:
        The `exports` entry of `metrics.json`; each verified TFLite or ONNX entry also holds
        `keras_accuracy`, the accuracy of the Keras model it was converted from.
    """
    from kerasopt.data.stream import draw_pool
    from kerasopt.export import keras_format, saved_model, tflite, tflite_profile, tflite_verify

    section = recipe.export
    exports: dict[str, Any] = {}
    if not run_dir.is_chief:
        return exports
    if section.keras:
        exports["keras"] = _relative(keras_format.export_keras(model, run_dir.path("model.keras")), run_dir)
        if baseline is not None:  # the float model before compression, e.g. to compress again
            exports["keras_float"] = _relative(
                keras_format.export_keras(baseline, run_dir.path("model_float.keras")), run_dir)
    if section.saved_model:
        exports["saved_model"] = _relative(
            saved_model.export_saved_model(model, run_dir.path("saved_model")), run_dir)
    if section.tflite is not None:
        options = section.tflite
        wanted = [("tflite", "model.tflite", options.quantization, model, options.io)]
        if (options.quantization != "none" or baseline is not None) and options.float_baseline:
            wanted.append(("tflite_float", "model_float.tflite", "none",
                           baseline if baseline is not None else model, "float32"))
        for key, filename, quantization, source, io in wanted:
            if quantization == "int4":
                info = _export_int4(source, run_dir.path(filename), options, data)
            else:
                info = tflite.export_tflite(
                    source, run_dir.path(filename), quantization=quantization,
                    representative_data=draw_pool(data.x_train, options.representative_samples),
                    num_representative=options.representative_samples, io=io)
            if options.verify:
                outputs = predict_locally(source, data.x_test)  # the chief alone exports
                info.update(tflite_verify.verify_tflite(
                    run_dir.path(filename), data.x_test, data.y_test, keras_outputs=outputs,
                    task=data.task))
                if data.task != "regression":
                    info["keras_accuracy"] = _accuracy(outputs, data.y_test)
            exports[key] = _relative(info, run_dir)
        if options.verify:  # latency, memory and ops, every file timed in the same interleaved rounds
            profiles = tflite_profile.profile_tflite(
                {key: run_dir.path(filename) for key, filename, *_ in wanted}, data.x_test[:1],
                reference="tflite_float")
            for key, profile in profiles.items():
                exports[key].update(profile)
    if section.onnx:
        exports["onnx"] = _relative(_export_onnx(model, data, run_dir), run_dir)
    return exports


SENSITIVITY_SAMPLES = 1000
"""At most this many validation samples measure each layer's int4 sensitivity."""


def _export_int4(model: Any, path: Any, options: Any, data: Any) -> dict[str, Any]:
    """`quantization: int4`: int4 weights, the layers the measured sensitivity pass picks kept.

    The pass runs on the validation split (at most :data:`SENSITIVITY_SAMPLES`), or, without
    one, on as many training samples drawn with a fixed seed (a streaming source: its first
    training samples in file order, as int8 calibration draws them); never on the test split.
    """
    from kerasopt.data.stream import draw_pool
    from kerasopt.export.tflite_low_bit import export_tflite_int4

    settings = options.int4
    if settings is None:
        from kerasopt.recipe.format.schema import Int4

        settings = Int4()
    x, y = (data.x_val, data.y_val) if data.x_val is not None else (
        draw_pool(data.x_train, SENSITIVITY_SAMPLES), draw_pool(data.y_train, SENSITIVITY_SAMPLES))
    chosen = np.sort(np.random.default_rng(0).choice(len(x), size=min(SENSITIVITY_SAMPLES, len(x)), replace=False))
    return export_tflite_int4(
        model, path, granularity=settings.granularity, block_size=settings.block_size,
        keep_float=settings.keep_float, keep_as=settings.keep_as,
        max_drop=settings.sensitivity.max_drop if settings.sensitivity is not None else None,
        validation=(np.asarray(x)[chosen], np.asarray(y)[chosen]), task=data.task)


def _export_onnx(model: Any, data: Any, run_dir: RunDirectory) -> dict[str, Any]:
    """Write model.onnx and verify it with onnxruntime on the test split, as the TFLite files are."""
    from kerasopt.export import onnx, onnx_verify

    info = onnx.export_onnx(model, run_dir.path("model.onnx"))
    outputs = predict_locally(model, data.x_test)
    info.update(onnx_verify.verify_onnx(run_dir.path("model.onnx"), data.x_test, data.y_test,
                                        keras_outputs=outputs, task=data.task))
    if data.task != "regression":
        info["keras_accuracy"] = _accuracy(outputs, data.y_test)
    return info


def _accuracy(outputs: Any, labels: Any) -> float:
    """Top-1 accuracy of model outputs (one column: a sigmoid, thresholded at 0.5)."""
    outputs = np.asarray(outputs)
    labels = np.asarray(labels).reshape(len(outputs), -1)
    if outputs.ndim == 2 and outputs.shape[1] == 1:
        predicted = (outputs[:, 0] > 0.5).astype(int)
    else:
        predicted = outputs.reshape(len(outputs), -1).argmax(axis=1)
    truth = labels.argmax(axis=1) if labels.shape[1] > 1 else labels[:, 0].astype(int)
    return float(np.mean(predicted == truth))


def _relative(info: dict[str, Any], run_dir: RunDirectory) -> dict[str, Any]:
    path = Path(info["path"])
    try:
        info["path"] = str(path.relative_to(run_dir.root))
    except ValueError:
        info["path"] = str(path)
    return info
