"""`build_streaming`: a `DataBundle` from a streaming source, its data never loaded whole."""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

from kerasopt.data.augmentation import Augmentation
from kerasopt.data.bundle import DataBundle
from kerasopt.data.data_problem import DataProblem
from kerasopt.data.normalization import normalizer_layer
from kerasopt.data.output_spec import output_spec
from kerasopt.data.stream import NotInMemory, Stream
from kerasopt.data.stream_pipeline import stream_dataset, stream_passes
from kerasopt.data.streaming_source import StreamingSource


def build_streaming(source: StreamingSource, *, batch_size: int | str, validation_split: float,
                    test_split: float | None, limit: int | None, normalization: str, shuffle: bool,
                    augmentation: Sequence[Mapping[str, Any]], seed: int, loss: Any,
                    output_activation: str, epoch: Any) -> DataBundle:
    """The bundle of a streaming source (`build_data` calls this for one).

    The splits come from the source's files: `validation_split`, `test_split` and
    `limit` must be 0, None and None. Normalization statistics take one pass over the
    training files (per channel, float64 sums); the test split is read into memory once
    (`x_test`, `y_test`) for the export checks; training data never is (except with
    `cache: memory`): `x_train` and `y_train` are `NotInMemory`, whose `first(n)` reads the
    first `n` samples and `x_train.batches(size)` one unaugmented pass in file order. Under
    a multi-worker strategy every worker reads every file and keeps its part of each global
    batch (`AutoShardPolicy.DATA`, as in memory), so the workers together train on exactly
    the batches one process would.

    Args:
        source: The streaming source.
        batch_size: Samples per batch, or "full" (the whole training split).
        validation_split: Must be 0.
        test_split: Must be None.
        limit: Must be None.
        normalization: "none", "minmax" or "standardize".
        shuffle: Shuffle files and samples every pass.
        augmentation: Training-only augmentation steps.
        seed: The seed of the order and the augmentation.
        loss: The training loss, or None.
        output_activation: The model's output activation.
        epoch: The pass counter (`DataBundle.epoch`).

    Raises:
        kerasopt.data.errors.DataError: For a split option that does not apply, a file that does not match the
            source's spec.
    """
    for name, value, unset in (("validation_split", validation_split, 0), ("test_split", test_split, None),
                               ("limit", limit, None)):
        if value != unset:
            raise DataProblem(name, f"`{name}` does not apply to the streaming source {source.name!r}: "
                              "its splits are its own files (validation and test files; a stream is never "
                              f"split at random). Remove `{name}`. Received: {name}={value!r}.",
                              value, unset).error()
    data = source.streams()
    cfg = source.config
    size = data.train.samples if batch_size == "full" else int(batch_size)
    augmenter = Augmentation(augmentation, data.input_shape, data.task, seed)
    output = output_spec(data.task, data.num_classes, target_shape=data.target_shape, loss=loss,
                         output_activation=output_activation, soft_labels=augmenter.soft_labels)
    labels = {"label_format": output.label_format, "num_classes": data.num_classes}
    train, endless = stream_passes(data.train, batch_size=size, epoch=epoch, shuffle=shuffle, seed=seed,
                                   shuffle_shards=cfg["shuffle_shards"], augmentation=augmenter,
                                   cache=cfg["cache"], **labels)
    validation = None if data.validation is None else stream_dataset(
        data.validation, batch_size=size, cache=cfg["cache"], name="validation", **labels)
    test = stream_dataset(data.test, batch_size=size, cache=cfg["cache"], name="test", **labels)
    x_test, y_test = read_split(data.test)
    return DataBundle(
        train=train, validation=validation, test=test,
        x_train=NotInMemory(source.name, "x_train", head=lambda n: read_split(data.train, n, batches=1)[0],
                            batches=lambda n: stream_dataset(data.train, batch_size=n)),
        y_train=NotInMemory(source.name, "y_train", head=lambda n: read_split(data.train, n, batches=1)[1]),
        x_val=None, y_val=None,
        x_test=x_test, y_test=y_test, input_shape=data.input_shape, num_classes=data.num_classes,
        task=data.task, class_names=data.class_names, steps_per_epoch=math.ceil(data.train.samples / size),
        batch_size=size, normalizer=stream_normalizer(data.train, normalization, data.input_shape),
        soft_labels=augmenter.soft_labels, source=source.name, target_shape=data.target_shape,
        output=output, epoch=epoch, train_endless=endless,
        streamed={"train_samples": data.train.samples,
                  "validation_samples": 0 if data.validation is None else data.validation.samples,
                  "test_samples": data.test.samples, "train_files": len(data.train.files)})


def read_split(stream: Stream, batch_size: int = 1024, batches: int | None = None) -> tuple[np.ndarray, np.ndarray]:
    """A split's inputs (float32) and targets as arrays, in file order (its first `batches` batches only)."""
    xs, ys = [], []
    dataset = stream_dataset(stream, batch_size=batch_size)
    for x, y in (dataset if batches is None else dataset.take(batches)).as_numpy_iterator():
        xs.append(x)
        ys.append(y)
    y = np.concatenate(ys)
    return np.concatenate(xs).astype(np.float32), y.astype(np.int32) if np.issubdtype(y.dtype, np.integer) else y


def stream_normalizer(stream: Stream, method: str, input_shape: tuple[int, ...],
                      batch_size: int = 1024) -> Any:
    """The normalizer of `kerasopt.data.normalization.fit_normalizer`, from one pass over the files.

    Per channel (the last axis), in float64: the mean and the population standard
    deviation (`sqrt(E[x^2] - E[x]^2)`) for "standardize", the minimum and the range for
    "minmax"; `None` for "none".
    """
    if method == "none":
        return None
    channels = input_shape[-1]
    total = 0
    sums, squares = np.zeros(channels), np.zeros(channels)
    low, high = np.full(channels, np.inf), np.full(channels, -np.inf)
    for x, _ in stream_dataset(stream, batch_size=batch_size).as_numpy_iterator():
        values = x.astype(np.float64).reshape(-1, channels)
        total += len(values)
        sums += values.sum(axis=0)
        squares += (values**2).sum(axis=0)
        low, high = np.minimum(low, values.min(axis=0)), np.maximum(high, values.max(axis=0))
    if method == "standardize":
        mean = sums / total
        return normalizer_layer(mean, np.sqrt(np.maximum(squares / total - mean**2, 0.0)), input_shape)
    return normalizer_layer(low, high - low, input_shape)
