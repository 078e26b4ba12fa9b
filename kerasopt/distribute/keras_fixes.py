"""Two corrections that let Keras 3's `fit` run under `MultiWorkerMirroredStrategy`.

Keras 3 (checked through 3.15.1) cannot train with `tf.distribute.MultiWorkerMirroredStrategy`
across processes (keras-team/keras#20585). Two spots of its TensorFlow trainer
(`keras/src/backend/tensorflow/trainer.py`) fail:

1. `TensorFlowTrainer._maybe_symbolic_build` builds the model from the first batch before
   training, and unwraps the distributed batch with
   `strategy.reduce("MEAN", batch, axis=None)`. Under a multi-worker strategy that is a
   cross-worker reduction of the *data*, and it fails ("Attempt to convert a value
   (PerReplica...) ... to a Tensor"). Building only needs shapes and dtypes, so the
   correction builds from this worker's first local replica's batch instead: no
   communication, the same model.
2. `reduce_per_replica` reduces each logged value of a train or test step across workers
   with `strategy.reduce("MEAN", value, axis=0)`. The logs are scalars (loss, metrics), and
   a scalar has no axis 0 ("Invalid reduction dimension 0 for input with 0 dimensions").
   The correction reduces scalars with `axis=None` (the mean over workers, which the
   synchronized metrics make equal to each worker's value) and leaves every other case to
   Keras.

Both are applied only inside :func:`multi_worker_fit_fixes`, which the runner enters for
`runtime.strategy: multi_worker` only, and only while Keras still carries the bug
(:func:`fix_needed`). The private names are reached through :mod:`kerasopt._keras_compat`.
"""

from __future__ import annotations

import contextlib
import inspect
import re
from collections.abc import Callable, Iterator
from typing import Any

import keras

from kerasopt import _keras_compat as compat

ISSUE = "keras-team/keras#20585"
CHECKED_THROUGH = (3, 15, 1)
"""The newest Keras release known to need both corrections."""

BUGGY_BUILD = 'self.distribute_strategy.reduce(\n                        "MEAN",\n' \
              '                        maybe_distributed_data_batch,'
BUGGY_REDUCE = 'return strategy.reduce("MEAN", v, axis=0)'
"""Source fragments of the two failing spots, as in Keras 3.15.1."""


def keras_version() -> tuple[int, ...]:
    """The installed Keras release as integers (`"3.15.1"` -> `(3, 15, 1)`, `"3.16.0rc1"` -> `(3, 16, 0)`)."""
    return tuple(int(re.match(r"\d*", part).group() or 0) for part in keras.__version__.split(".")[:3])


def buggy_code_present() -> bool:
    """Whether the installed Keras still has both failing spots, read from its source."""
    build, reduce = compat.fit_internals()
    try:
        return BUGGY_BUILD in inspect.getsource(build) and BUGGY_REDUCE in inspect.getsource(reduce)
    except (OSError, TypeError):  # no source shipped: judge by the version alone
        return keras_version() <= CHECKED_THROUGH


def fix_needed() -> bool:
    """Whether the corrections apply: Keras up to 3.15.1, or a newer one still carrying the bug."""
    return keras_version() <= CHECKED_THROUGH or buggy_code_present()


@contextlib.contextmanager
def multi_worker_fit_fixes() -> Iterator[bool]:
    """Within the block, Keras's `fit`, `evaluate` and `predict` work under multi-worker strategies.

    Process-wide while the block runs (the functions are Keras's own, shared by every
    model), undone afterwards. Outside multi-worker mode the replacements defer to Keras
    unchanged.

    Yields:
        Whether the corrections were applied (False when the installed Keras no longer
        needs them).
    """
    if not fix_needed():
        yield False
        return
    build, reduce = compat.fit_internals()
    with compat.replaced_fit_internals(_local_symbolic_build(build), _scalar_safe_reduce(reduce)):
        yield True


def _local_symbolic_build(original: Callable[..., Any]) -> Callable[..., Any]:
    """`_maybe_symbolic_build` that unwraps a distributed batch locally under multi-worker strategies."""

    def maybe_symbolic_build(self: Any, iterator: Any = None, data_batch: Any = None) -> Any:
        strategy = self.distribute_strategy
        if iterator is None or not compat.collective_multi_worker(strategy):
            return original(self, iterator=iterator, data_batch=data_batch)
        for _, _, batches in iterator:  # the first batch, read as Keras reads it
            data_batch = _first_local_replica(strategy, next(batches))
            break
        return original(self, iterator=None, data_batch=data_batch)

    return maybe_symbolic_build


def _scalar_safe_reduce(original: Callable[..., Any]) -> Callable[..., Any]:
    """`reduce_per_replica` that reduces scalars across workers with `axis=None`."""
    import tensorflow as tf

    def reduce_per_replica(values: Any, strategy: Any, reduction: str) -> Any:
        if reduction not in ("auto", "mean") or not compat.collective_multi_worker(strategy):
            return original(values, strategy, reduction)

        def reduce_one(value: Any) -> Any:
            if _rank(strategy, value) == 0:
                return strategy.reduce("MEAN", value, axis=None)
            return original(value, strategy, reduction)

        return tf.nest.map_structure(reduce_one, values)

    return reduce_per_replica


def _first_local_replica(strategy: Any, batch: Any) -> Any:
    import tensorflow as tf

    def unwrap(value: Any) -> Any:
        if isinstance(value, tf.distribute.DistributedValues):
            return strategy.experimental_local_results(value)[0]
        return value

    return tf.nest.map_structure(unwrap, batch)


def _rank(strategy: Any, value: Any) -> int | None:
    import tensorflow as tf

    if isinstance(value, tf.distribute.DistributedValues):
        value = strategy.experimental_local_results(value)[0]
    return getattr(getattr(value, "shape", None), "rank", None)
