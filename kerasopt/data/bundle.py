"""`DataBundle`: everything the runner needs from the data, built by `build_data`."""

from __future__ import annotations

import dataclasses
from typing import Any

import numpy as np

from kerasopt.data.output_spec import OutputSpec


@dataclasses.dataclass(frozen=True, eq=False)
class DataBundle:
    """The datasets, raw arrays and facts about one data source, ready for training.

    Normalization happens in the model, not in the pipeline: `train`, `validation` and
    `test` carry raw inputs (cast to float32), and `normalizer` is the fitted layer the
    model builder puts first, so the Keras model and its TFLite export both take raw
    inputs. The arrays `x_*` are the raw inputs too (the source's dtype, e.g. uint8
    pixels), with integer class labels (int32) or float32 regression targets.

    The datasets carry labels in `output.label_format` (see
    `kerasopt.data.output_spec.OutputSpec`): class indices for the default softmax
    head, one-hot float32 labels when `soft_labels` is True (mixup or cutmix) or the
    loss is categorical, float32 `(n, 1)` labels for a one-unit sigmoid head, float32
    targets for regression. The `y_*` arrays always hold the integer labels (or the
    regression targets). `output` also gives the head (`output.head`, for
    `kerasopt.models.build_model(head=...)`) and the default loss and metrics.

    Args:
        train: Training batches: shuffled (when asked) and augmented, prefetched.
        validation: Validation batches, or `None` without a validation split.
        test: Test batches.
        x_train: Raw training inputs.
        y_train: Training targets.
        x_val: Raw validation inputs, or `None`.
        y_val: Validation targets, or `None`.
        x_test: Raw test inputs.
        y_test: Test targets.
        input_shape: The shape of one sample.
        num_classes: The number of classes, or `None` for regression.
        task: "classification" or "regression".
        class_names: The name of each class index, or `None` for regression.
        steps_per_epoch: Training batches per epoch.
        batch_size: The resolved batch size (the training-set size for "full").
        normalizer: The fitted normalization layer, or `None`.
        soft_labels: Whether the datasets carry mixed (soft) labels. Defaults to `False`.
        source: The data source name. Defaults to `""`.
        target_shape: The shape of one target: `()` for class labels and scalar
            regression targets, `(k,)` for k regression outputs. Defaults to `()`.
        output: The output layer and label encoding the datasets were built for, or
            `None` (bundles made by hand). Defaults to `None`.
        epoch: The training pipeline's pass counter (a scalar int64 `tf.Variable`): set it
            to `e` before a pass to get epoch `e`'s order and augmentation, as in any
            process (`make_dataset`'s `epoch`); each pass adds one. Defaults to `None`.
        train_endless: `train`'s passes one after another without end, numbered from
            `epoch`'s value when an iterator starts (`make_dataset(..., endless=True)`), or
            `None`. For `fit(..., steps_per_epoch=steps_per_epoch)` with a
            `steps_per_execution` that divides `steps_per_epoch`: the epochs then are the
            passes, and one iterator serves the whole `fit`. Defaults to `None`.
        mask_value: The value of padded sequence steps (`data.sequences`) that the model
            masks with a first `keras.layers.Masking` layer, or `None`. Defaults to `None`.
        streamed: For a streaming source (`kerasopt.data.streaming_source`): the sample
            counts (`train_samples`, `validation_samples`, `test_samples`) and `files`;
            its `x_train` and `y_train` are then `kerasopt.data.stream.NotInMemory`
            (any use raises DataError: the training data is never in memory), `x_val`
            and `y_val` are `None`, and `x_test`, `y_test` hold the test split, read
            once for the export checks. Defaults to `None`.
    """

    train: Any
    validation: Any
    test: Any
    x_train: Any
    y_train: Any
    x_val: np.ndarray | None
    y_val: np.ndarray | None
    x_test: np.ndarray
    y_test: np.ndarray
    input_shape: tuple[int, ...]
    num_classes: int | None
    task: str
    class_names: list[str] | None
    steps_per_epoch: int
    batch_size: int
    normalizer: Any
    soft_labels: bool = False
    source: str = ""
    target_shape: tuple[int, ...] = ()
    output: OutputSpec | None = None
    epoch: Any = None
    train_endless: Any = None
    mask_value: float | None = None
    streamed: dict[str, Any] | None = None

    def summary(self) -> dict[str, Any]:
        """Return the bundle's facts as plain JSON-ready values (for metrics and logs)."""
        return {
            "source": self.source,
            "task": self.task,
            "target_shape": list(self.target_shape),
            "input_shape": list(self.input_shape),
            "num_classes": self.num_classes,
            **(self.streamed or {
                "train_samples": int(len(self.x_train)),
                "validation_samples": 0 if self.x_val is None else int(len(self.x_val)),
                "test_samples": int(len(self.x_test))}),
            "batch_size": self.batch_size,
            "steps_per_epoch": self.steps_per_epoch,
            "soft_labels": self.soft_labels,
            "normalized": self.normalizer is not None,
            "label_format": None if self.output is None else self.output.label_format,
            "output_units": None if self.output is None else self.output.units,
        }
