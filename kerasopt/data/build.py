"""`build_data`: the one entry point from plain arguments to a ready `DataBundle`."""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import Any, Literal

from kerasopt.data.augmentation import Augmentation
from kerasopt.data.bundle import DataBundle
from kerasopt.data.catalog import get_source
from kerasopt.data.errors import DataError
from kerasopt.data.normalization import NORMALIZATIONS, fit_normalizer
from kerasopt.data.output_spec import output_spec, task_for_loss
from kerasopt.data.pipeline import make_dataset, make_training_datasets
from kerasopt.data.sequence_padding import AUGMENTATION_CONFLICT
from kerasopt.data.splits import split_data
from kerasopt.data.stream_build import build_streaming
from kerasopt.data.streaming_source import StreamingSource


def build_data(
    source: str,
    options: Mapping[str, Any] | None = None,
    *,
    batch_size: int | Literal["full"] = 32,
    validation_split: float = 0.1,
    test_split: float | None = None,
    stratify: bool = True,
    normalization: str = "none",
    shuffle: bool = True,
    augmentation: Sequence[Mapping[str, Any]] = (),
    seed: int = 0,
    limit: int | None = None,
    loss: Any = None,
    output_activation: str = "auto",
    task: str | None = None,
) -> DataBundle:
    """Load a data source, split it, fit the normalizer and build the tf.data pipelines.

    The straight line: check every argument -> load the source's arrays (deciding the
    task) -> split (test, then `limit`, then validation; seeded and stratified) -> fit
    the normalizer on the training split only -> decide the output layer and label
    encoding (`kerasopt.data.output_spec.output_spec`, from the task, the classes,
    `loss` and `output_activation`) -> build the training pipeline (shuffled,
    augmented) and the validation and test pipelines (in order, not augmented), with
    labels in that encoding. Everything random follows `seed`, so the same arguments
    give the same bundle.

    The task of a source with a `task` option left on "auto" (csv, npz) comes from
    `task`, else from the task `loss` implies (mean_squared_error: regression), else
    from the targets themselves (`kerasopt.data.task_inference.TaskInference`).

    A streaming source (`tfrecord`, `npz_shards`, `image_stream`) reads its own
    training, validation and test files batch by batch (`kerasopt.data.stream_build`):
    pass `validation_split=0` and leave `test_split` and `limit` unset.

    Normalization is not applied to the data: the returned `normalizer` layer goes
    first in the model, so the datasets, the `x_*` arrays, the model and its TFLite
    export all work with raw inputs.

    Args:
        source: One of "mnist1d", "digits", "synthetic", "npz", "csv", "image_folder",
            "keras_dataset", "tfds" (see `kerasopt.data.catalog.source_options()`).
        options: The source's own options. Defaults to `None` (no options).
        batch_size: Samples per training batch (>= 1), or "full" for one batch holding
            the whole training split (batch gradient descent). Validation and test
            use the same size. Defaults to `32`.
        validation_split: Fraction of the training data held out for validation, in
            [0, 1); 0 means no validation set. Defaults to `0.1`.
        test_split: Fraction carved off as the test set, for sources without their own
            (0.2 when None). Defaults to `None`.
        stratify: Stratify the splits by class (classification). Defaults to `True`.
        normalization: "none", "minmax" or "standardize", fitted on the training
            split only. Defaults to `"none"`.
        shuffle: Shuffle the training data every epoch. Defaults to `True`.
        augmentation: Training-only augmentation steps, e.g.
            `[{"type": "noise", "stddev": 0.1}, {"type": "mixup", "alpha": 0.2}]`; see
            `Augmentation`. Defaults to `()`.
        seed: Seed of splits, shuffling, augmentation and synthetic data. Defaults to `0`.
        limit: Keep at most this many training samples (quick runs). Defaults to `None`.
        loss: The training loss (a name or `{"type": name, ...}`), or `None` for the
            task's default. Defaults to `None`.
        output_activation: The model's output activation ("auto" picks it). Defaults
            to `"auto"`.
        task: "classification" or "regression" to decide targets a source left on
            `task: auto`, or `None`. Defaults to `None`.

    Returns:
        The `DataBundle`; `bundle.output` holds the output layer and label encoding.

    Raises:
        DataError: For any bad argument, option, file or split, for targets whose task
            cannot be decided, for a loss or output activation that cannot fit the
            data, and for an online source that cannot download; the message names the
            option and the value (and `err.problem` holds it as a `DataProblem` for
            the problems `kerasopt.data.precheck.check_data` also finds).

    Example:
        ```python
        bundle = build_data("mnist1d", {}, batch_size=64, normalization="standardize")
        model = keras.Sequential([keras.Input(bundle.input_shape), bundle.normalizer,
                                  keras.layers.Flatten(), keras.layers.Dense(10)])
        model.fit(bundle.train, validation_data=bundle.validation, epochs=1)
        ```
    """
    _check_arguments(batch_size, normalization, shuffle, stratify, seed)
    source_class = get_source(source)
    data_source = source_class(source_class.options_with_task(options or {},
                                                              task or task_for_loss(loss)))
    if isinstance(data_source, StreamingSource):
        return build_streaming(data_source, batch_size=batch_size, validation_split=validation_split,
                               test_split=test_split, limit=limit, normalization=normalization,
                               shuffle=shuffle, augmentation=augmentation, seed=seed, loss=loss,
                               output_activation=output_activation, epoch=_epoch_variable())
    data = data_source.load(seed)
    splits = split_data(data, validation_split=validation_split, test_split=test_split,
                        stratify=stratify, seed=seed, limit=limit)
    input_shape = tuple(int(d) for d in splits.x_train.shape[1:])
    target_shape = tuple(int(d) for d in splits.y_train.shape[1:])
    if data.mask_value is not None and augmentation:
        raise DataError(AUGMENTATION_CONFLICT[:1].upper() + AUGMENTATION_CONFLICT[1:] + ".")
    augmenter = Augmentation(augmentation, input_shape, data.task, seed)
    augmenter.check_values(splits.x_train)
    output = output_spec(data.task, data.num_classes, target_shape=target_shape, loss=loss,
                         output_activation=output_activation, soft_labels=augmenter.soft_labels)
    normalizer = fit_normalizer(splits.x_train, normalization, padding_value=data.mask_value)
    size = len(splits.x_train) if batch_size == "full" else batch_size
    labels = {"label_format": output.label_format, "num_classes": data.num_classes}
    epoch = _epoch_variable()
    train, train_endless = make_training_datasets(splits.x_train, splits.y_train, batch_size=size, epoch=epoch,
                                                  shuffle=shuffle, seed=seed, augmentation=augmenter, **labels)
    validation = None
    if splits.x_val is not None:
        validation = make_dataset(splits.x_val, splits.y_val, batch_size=size, **labels)
    test = make_dataset(splits.x_test, splits.y_test, batch_size=size, **labels)
    return DataBundle(
        train=train, validation=validation, test=test,
        x_train=splits.x_train, y_train=splits.y_train, x_val=splits.x_val,
        y_val=splits.y_val, x_test=splits.x_test, y_test=splits.y_test,
        input_shape=input_shape, num_classes=data.num_classes, task=data.task,
        class_names=data.class_names, steps_per_epoch=math.ceil(len(splits.x_train) / size),
        batch_size=size, normalizer=normalizer, soft_labels=augmenter.soft_labels,
        source=source, target_shape=target_shape, output=output, epoch=epoch,
        train_endless=train_endless, mask_value=data.mask_value,
    )


def _epoch_variable() -> Any:
    """The training pipeline's pass counter, on the CPU where tf.data runs."""
    import tensorflow as tf

    with tf.device("/cpu:0"):
        return tf.Variable(0, dtype=tf.int64, trainable=False, name="data_epoch")


def _check_arguments(batch_size: Any, normalization: Any, shuffle: Any, stratify: Any,
                     seed: Any) -> None:
    if batch_size != "full" and (isinstance(batch_size, bool) or not isinstance(batch_size, int)
                                 or batch_size < 1):
        raise DataError(f"`batch_size` must be an integer >= 1 or 'full'. "
                        f"Received: batch_size={batch_size!r}.")
    if normalization not in NORMALIZATIONS:
        raise DataError(f"`normalization` must be one of {', '.join(NORMALIZATIONS)}. "
                        f"Received: normalization={normalization!r}.")
    for name, value in (("shuffle", shuffle), ("stratify", stratify)):
        if not isinstance(value, bool):
            raise DataError(f"`{name}` must be true or false. Received: {name}={value!r}.")
    if isinstance(seed, bool) or not isinstance(seed, int) or seed < 0:
        raise DataError(f"`seed` must be an integer >= 0. Received: seed={seed!r}.")
