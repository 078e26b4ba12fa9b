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

    What needs a bounded sample reads it from the stream instead: `first(n)` reads the
    first `n` samples of the split in file order, unaugmented (int8 calibration, the int4
    sensitivity pass, LSUV and QAT range calibration, through :func:`draw_pool`), and
    `batches(size)` reads the whole split once in file order, unaugmented (weight
    averaging's batch-norm pass), when the source gave a way to.

    Args:
        source: The source's name.
        name: The array's name ("x_train" or "y_train").
        head: `head(n)` returns the split's first `n` samples as an array. Defaults to
            `None` (`first` then refuses).
        batches: `batches(size)` returns an iterable of `(inputs, targets)` batches of
            `size` samples over the whole split. Defaults to `None` (`batches` then refuses).
    """

    def __init__(self, source: str, name: str, head: Callable[[int], np.ndarray] | None = None,
                 batches: Callable[[int], Any] | None = None) -> None:
        self.source, self.name, self._head, self._batches = source, name, head, batches

    def first(self, n: int) -> np.ndarray:
        """The split's first `n` samples (all of them when it has fewer), in file order."""
        if self._head is None:
            self.refuse()
        return self._head(n)

    def batches(self, size: int) -> Any:
        """One pass over the split in batches of `size` `(inputs, targets)`, in file order."""
        if self._batches is None:
            self.refuse()
        return self._batches(size)

    def __repr__(self) -> str:
        return f"NotInMemory({self.source!r}, {self.name!r})"

    def refuse(self, *args: Any, **kwargs: Any) -> Any:
        """Raise the DataError that explains why the arrays are not there."""
        from kerasopt.data.errors import DataError

        raise DataError(f"The training arrays (`{self.name}`) of the streaming source {self.source!r} are "
                        "not in memory: it is read batch by batch. What needs them whole (batch_size: auto, "
                        "class_weight: balanced) works with in-memory sources only; for those, write the "
                        "data with numpy.savez and use `source: npz`.")

    __len__ = __getitem__ = __array__ = __iter__ = refuse


def draw_pool(array: Any, count: int) -> Any:
    """The samples to draw `count` from: `array` itself in memory, a stream's first `count` samples.

    One rule for everything that needs a bounded sample of the training data (int8
    calibration, the int4 sensitivity pass, LSUV, QAT range calibration): an in-memory
    array is returned whole (the caller draws or slices), a `NotInMemory` gives its
    first `count` samples in file order (:meth:`NotInMemory.first`).

    Example:
        >>> draw_pool(np.arange(5), 2)
        array([0, 1, 2, 3, 4])
        >>> draw_pool(NotInMemory("s", "x_train", head=lambda n: np.arange(n)), 2)
        array([0, 1])
    """
    return array.first(count) if isinstance(array, NotInMemory) else array
