"""tf.data pipelines over in-memory arrays: shuffle, batch, encode labels, augment, prefetch."""

from __future__ import annotations

from typing import Any

import numpy as np

from kerasopt.data.augmentation import Augmentation
from kerasopt.data.errors import DataError
from kerasopt.data.output_spec import LABEL_FORMATS


def make_dataset(x: np.ndarray, y: np.ndarray, *, batch_size: int, shuffle: bool = False,
                 seed: int = 0, augmentation: Augmentation | None = None,
                 label_format: str = "sparse", num_classes: int | None = None, epoch: Any = None,
                 endless: bool = False) -> Any:
    """Build a batched, prefetched `tf.data.Dataset` from arrays.

    Order: shuffle (a full-size buffer, seeded, reshuffled every epoch) -> batch (the
    last batch may be smaller) -> cast inputs to float32 -> encode labels -> augmentation
    -> prefetch(AUTOTUNE); the dataset is sharded by DATA under multi-worker strategies
    (each worker takes its part of every global batch). Each batch gets its own `[2]` seed from a seeded
    `tf.data.Dataset.random` stream that is re-randomized every epoch, so the
    augmentation differs between epochs yet the whole run is reproducible from `seed`.
    Inputs stay raw (not normalized): normalization is the model's first layer.

    Labels (see `kerasopt.data.output_spec.OutputSpec`): "sparse" and "regression"
    keep `y` as it is; "one_hot" encodes class indices as float32 `(batch, K)`;
    "binary" gives float32 `(batch, 1)`, the probability of class 1. With soft-label
    augmentation (mixup, cutmix), binary labels are mixed as two-class one-hot labels
    and then reduced to their class-1 column, so they stay `(batch, 1)`.

    Args:
        x: Inputs.
        y: Targets (int class indices or float regression targets).
        batch_size: Samples per batch, >= 1.
        shuffle: Shuffle the samples every epoch. Defaults to `False`.
        seed: The seed of shuffling and augmentation. Defaults to `0`.
        augmentation: Steps applied to each batch, or `None`. Defaults to `None`.
        label_format: One of "sparse", "one_hot", "binary", "regression". Defaults to
            `"sparse"`.
        num_classes: The number of classes, needed for "one_hot". Defaults to `None`.
        epoch: A scalar int64 `tf.Variable` numbering the passes over the data, or `None`.
            When given, each pass reads it as its number `e` and adds one to it; the pass's
            order is a permutation seeded by `(seed, e)` and batch `i`'s augmentation
            seed is derived from `(seed, e, i)`, so setting the variable before a pass
            reproduces that pass in any process (a run resumed at epoch `e`). Without it,
            tf.data numbers the passes itself, from 0 in every process. Defaults to `None`.
        endless: With `epoch`: the passes follow one another without end in one iterator,
            numbered `e, e + 1, ...` from the value `e` the variable holds when the iterator
            starts (the variable is not changed). Pass `e` is the same as with
            `endless=False`. For `fit(steps_per_epoch=<batches per pass>)` with a
            `steps_per_execution` that divides it: one iterator serves the whole `fit`,
            where a finite dataset gets a new one every epoch, and opening an iterator over
            a pipeline with functions costs 5-20 ms on a CPU (its functions are
            instantiated and optimized anew). Defaults to `False`.

    Returns:
        The dataset of `(inputs, targets)` batches.

    Raises:
        DataError: For an unknown `label_format`, "one_hot" without `num_classes`, or
            `endless` without `epoch`.
    """
    return _pipelines(x, y, batch_size=batch_size, shuffle=shuffle, seed=seed, augmentation=augmentation,
                      label_format=label_format, num_classes=num_classes, epoch=epoch,
                      forms=("endless",) if endless else ("pass",))[0]


def make_training_datasets(x: np.ndarray, y: np.ndarray, *, batch_size: int, epoch: Any, shuffle: bool = False,
                           seed: int = 0, augmentation: Augmentation | None = None,
                           label_format: str = "sparse", num_classes: int | None = None) -> tuple[Any, Any]:
    """`make_dataset(..., epoch=epoch)` and the same with `endless=True`, sharing one copy of the arrays.

    Args and raises as :func:`make_dataset`.

    Returns:
        The dataset of one numbered pass, and the endless one.
    """
    first, endless = _pipelines(x, y, batch_size=batch_size, shuffle=shuffle, seed=seed,
                                augmentation=augmentation, label_format=label_format,
                                num_classes=num_classes, epoch=epoch, forms=("pass", "endless"))
    return first, endless


def _pipelines(x: np.ndarray, y: np.ndarray, *, batch_size: int, shuffle: bool, seed: int,
               augmentation: Augmentation | None, label_format: str, num_classes: int | None,
               epoch: Any, forms: tuple[str, ...]) -> list[Any]:
    """:func:`make_dataset`'s pipelines: one per form (`"pass"`, `"endless"`; the endless form needs `epoch`)."""
    import tensorflow as tf

    if "endless" in forms and epoch is None:
        raise DataError("`endless=True` needs the `epoch` variable that numbers the passes. "
                        "Received: epoch=None.")
    soft = augmentation is not None and augmentation.soft_labels
    if np.issubdtype(x.dtype, np.floating):
        x = x.astype(np.float32, copy=False)  # once, up front: no per-batch cast needed
    encode = batch_encoder(label_format, num_classes, soft, inputs_float32=x.dtype == np.float32)
    augmented = augmentation is not None and bool(augmentation.specs)
    if epoch is not None:
        datasets = _numbered_passes(x, y, batch_size, shuffle, seed, encode, augmentation, epoch, forms)
    else:
        dataset = tf.data.Dataset.from_tensor_slices((x, y))
        if shuffle:
            dataset = dataset.shuffle(len(x), seed=seed, reshuffle_each_iteration=True)
        dataset = dataset.batch(batch_size)
        if encode is not None:
            dataset = dataset.map(encode, num_parallel_calls=tf.data.AUTOTUNE, deterministic=True)
        if augmented:
            seeds = tf.data.Dataset.random(seed=seed, rerandomize_each_iteration=True).batch(2)
            dataset = tf.data.Dataset.zip((dataset, seeds)).map(
                lambda batch, step_seed: augmentation(batch[0], batch[1], step_seed))
        datasets = [dataset]
    if augmented and label_format == "binary" and soft:
        datasets = [d.map(lambda inputs, targets: (inputs, targets[:, 1:])) for d in datasets]
    return [shard_by_data(d.prefetch(tf.data.AUTOTUNE)) for d in datasets]


def batch_encoder(label_format: str, num_classes: int | None, soft: bool, *,
                  inputs_float32: bool) -> Any:
    """The per-batch function that casts inputs to float32 and encodes labels in `label_format`.

    Args:
        label_format: One of `LABEL_FORMATS`.
        num_classes: The number of classes (needed for "one_hot").
        soft: Whether soft-label augmentation (mixup, cutmix) follows.
        inputs_float32: Whether the inputs are float32 already.

    Returns:
        `encode(inputs, targets) -> (inputs, targets)`, or `None` when the batches need
        no cast and no label encoding.

    Raises:
        DataError: For an unknown `label_format`, or "one_hot" without `num_classes`.
    """
    import tensorflow as tf

    if label_format not in LABEL_FORMATS:
        raise DataError(f"`label_format` must be one of {', '.join(LABEL_FORMATS)}. "
                        f"Received: label_format={label_format!r}.")
    if label_format == "one_hot" and not num_classes:
        raise DataError(f"`label_format='one_hot'` needs `num_classes`. Received: "
                        f"num_classes={num_classes!r}.")
    depth = 2 if label_format == "binary" and soft else num_classes
    one_hot = label_format == "one_hot" or (label_format == "binary" and soft)

    def prepare(inputs: Any, targets: Any) -> tuple[Any, Any]:
        inputs = tf.cast(inputs, tf.float32)
        if one_hot:
            targets = tf.one_hot(tf.cast(targets, tf.int32), depth, dtype=tf.float32)
        elif label_format == "binary":
            targets = tf.reshape(tf.cast(targets, tf.float32), (-1, 1))
        return inputs, targets

    return prepare if not inputs_float32 or label_format in ("one_hot", "binary") else None


def numbered_forms(one_pass: Any, epoch: Any, batches: int, forms: tuple[str, ...]) -> list[Any]:
    """The `"pass"` and `"endless"` forms of the numbered passes `one_pass(e)` (see `make_dataset`).

    Args:
        one_pass: `one_pass(number)`: the dataset of pass `number` (a scalar int64 tensor).
        epoch: The pass counter, a scalar int64 `tf.Variable`.
        batches: Batches per pass.
        forms: The forms wanted, in order.

    Returns:
        One dataset per form.
    """
    import tensorflow as tf

    def passes(form: str) -> Any:
        if form == "pass":  # one pass, numbered by adding one to `epoch`; its length is known to Keras
            one = tf.data.Dataset.range(1).flat_map(lambda _: one_pass(epoch.assign_add(1) - 1))
            return one.apply(tf.data.experimental.assert_cardinality(batches))
        endless = tf.data.Dataset.range(1).flat_map(  # passes e, e + 1, ... from `epoch`'s value e
            lambda _: tf.data.Dataset.counter(epoch.read_value()).flat_map(one_pass))
        return endless.apply(tf.data.experimental.assert_cardinality(tf.data.INFINITE_CARDINALITY))

    return [passes(form) for form in forms]


def shard_by_data(dataset: Any) -> Any:
    """Set the dataset's sharding policy for multi-worker strategies to DATA.

    Under `MultiWorkerMirroredStrategy` each worker builds the same pipeline, and
    `experimental_distribute_dataset` splits every global batch into per-replica parts;
    with the DATA policy worker `k` keeps part `k` of each batch, so the workers together
    see exactly the batches one process would, in the same order (the shuffle and
    augmentation seeds are the same on every worker). The default policy, AUTO, would
    look for input files to split first (there are none: the arrays are in memory) and
    then fall back to DATA with a warning. On one worker the policy changes nothing.
    """
    import tensorflow as tf

    options = tf.data.Options()
    options.experimental_distribute.auto_shard_policy = tf.data.experimental.AutoShardPolicy.DATA
    return dataset.with_options(options)


def _numbered_passes(x: np.ndarray, y: np.ndarray, batch_size: int, shuffle: bool, seed: int,
                     encode: Any, augmentation: Augmentation | None, epoch: Any,
                     forms: tuple[str, ...]) -> list[Any]:
    """`make_dataset` with `epoch`: every pass's order and augmentation follow from `(seed, pass)`.

    A pass gathers the whole permuted split at once (one copy of the arrays per pass) and
    slices it into batches, so the only per-batch work is `encode` (which casts a batch's
    inputs and encodes its labels; None when they need neither) and augmentation. Batch `i`
    of pass `e` holds the samples `order[i * batch_size:(i + 1) * batch_size]` of the
    permutation seeded by `(seed, e)`, and its augmentation seed is `fold_in((seed, e), i)`.
    The `"pass"` form is one pass, numbered from `epoch`, which it adds one to; the
    `"endless"` form numbers its passes from `epoch`'s value at the iterator's start on.
    The forms share the arrays' one copy as tensors. The results are not prefetched.
    """
    import tensorflow as tf

    inputs, targets, size = tf.convert_to_tensor(x), tf.convert_to_tensor(y), len(x)
    full, rest = divmod(size, batch_size)
    batches = full + bool(rest)
    augmented = augmentation is not None and bool(augmentation.specs)

    def batched(tensor: Any) -> Any:
        """The full batches of `tensor` (one element each), then the smaller last one."""
        head = tf.data.Dataset.from_tensor_slices(
            tf.reshape(tensor[:full * batch_size], [full, batch_size, *tensor.shape[1:]]))
        return head.concatenate(tf.data.Dataset.from_tensors(tensor[full * batch_size:])) if rest else head

    def one_pass(number: Any) -> Any:
        key = tf.stack([tf.constant(seed, tf.int64), number])
        samples, labels = inputs, targets
        if shuffle:
            order = tf.random.experimental.stateless_shuffle(tf.range(size, dtype=tf.int64), seed=key)
            samples, labels = tf.gather(inputs, order), tf.gather(targets, order)
        parts = (batched(samples), batched(labels))
        if augmented:
            parts += (tf.data.Dataset.range(batches).map(
                lambda i: tf.random.experimental.stateless_fold_in(key, i)),)
        return tf.data.Dataset.zip(parts)

    def finish(batch_x: Any, batch_y: Any, step_seed: Any = None) -> Any:
        if encode is not None:
            batch_x, batch_y = encode(batch_x, batch_y)
        return augmentation(batch_x, batch_y, step_seed) if augmented else (batch_x, batch_y)

    datasets = numbered_forms(one_pass, epoch, batches, forms)
    if augmented or encode is not None:
        datasets = [d.map(finish, num_parallel_calls=tf.data.AUTOTUNE, deterministic=True) for d in datasets]
    return datasets
