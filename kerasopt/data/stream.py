"""`Stream`: one split of a streaming source, as files and the functions that read them."""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from typing import Any

import numpy as np


@dataclasses.dataclass(frozen=True, eq=False)
class Stream:
    """The files of one split and how to read their samples with `tf.data`.

    A file is the unit the seeded order permutes: a TFRecord or `.npz` shard (many
    samples), or one image (one sample). Only one group of files (`shuffle_shards`
    files) is held in memory at a time.

    Args:
        files: The split's files, in sorted order.
        counts: Samples in each file (int64, same length as `files`).
        elements: `elements(i)` is a `tf.data.Dataset` of file `i`'s samples, in file
            order (`i` a scalar int64 tensor). A sample is what `decode_element` and
            `decode_batch` take: a serialized record, an `(x, y)` pair, a path and label.
        decode_element: Maps one sample to what is batched, or `None`. Defaults to `None`.
        decode_batch: Maps a batch to `(inputs, targets)`, or `None` when the batch is
            that already. Defaults to `None`.
    """

    files: list[str]
    counts: np.ndarray
    elements: Callable[[Any], Any]
    decode_element: Callable[..., Any] | None = None
    decode_batch: Callable[..., Any] | None = None

    @property
    def samples(self) -> int:
        """The number of samples of the split."""
        return int(np.sum(self.counts))


@dataclasses.dataclass(frozen=True, eq=False)
class StreamData:
    """What a streaming source hands to `build_data`: its splits and facts about the samples.

    Args:
        train: The training split.
        validation: The validation split, or `None`.
        test: The test split.
        input_shape: The shape of one input.
        target_shape: The shape of one target (`()` for class labels).
        task: "classification" or "regression".
        class_names: The name of each class index, or `None` for regression.
    """

    train: Stream
    validation: Stream | None
    test: Stream
    input_shape: tuple[int, ...]
    target_shape: tuple[int, ...]
    task: str
    class_names: list[str] | None

    @property
    def num_classes(self) -> int | None:
        """The number of classes, or `None` for regression."""
        return None if self.class_names is None else len(self.class_names)


class NotInMemory:
    """Stands for the training arrays of a streaming source (`DataBundle.x_train`, `y_train`).

    A streaming source never holds its training split in memory; whatever asks for the
    arrays (their length, a slice, `numpy.asarray`) gets a DataError that says so and
    what to do, instead of a `TypeError` about `None`.

    `first(n)` reads the first `n` samples of the split in file order, unaugmented, when
    the source gave a way to (int8 export draws its calibration samples so).

    Args:
        source: The source's name.
        name: The array's name ("x_train" or "y_train").
        head: `head(n)` returns the split's first `n` samples as an array. Defaults to
            `None` (`first` then refuses).
    """

    def __init__(self, source: str, name: str, head: Callable[[int], np.ndarray] | None = None) -> None:
        self.source, self.name, self._head = source, name, head

    def first(self, n: int) -> np.ndarray:
        """The split's first `n` samples (all of them when it has fewer), in file order."""
        if self._head is None:
            self.refuse()
        return self._head(n)

    def __repr__(self) -> str:
        return f"NotInMemory({self.source!r}, {self.name!r})"

    def refuse(self, *args: Any, **kwargs: Any) -> Any:
        """Raise the DataError that explains why the arrays are not there."""
        from kerasopt.data.errors import DataError

        raise DataError(f"The training arrays (`{self.name}`) of the streaming source {self.source!r} are "
                        "not in memory: it is read batch by batch. What needs them (batch_size: auto, "
                        "class_weight: balanced, LSUV, QAT range calibration, weight averaging's batch-norm "
                        "pass) works with in-memory sources only; for those, write the data with "
                        "numpy.savez and use `source: npz`.")

    __len__ = __getitem__ = __array__ = __iter__ = refuse
