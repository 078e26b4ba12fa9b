"""tf.data pipelines over in-memory arrays: shuffle, batch, encode labels, augment, prefetch."""

from __future__ import annotations

from typing import Any

import numpy as np

from kerasopt.data.augmentation import Augmentation
from kerasopt.data.errors import DataError
from kerasopt.data.output_spec import LABEL_FORMATS


def make_dataset(x: np.ndarray, y: np.ndarray, *, batch_size: int, shuffle: bool = False,
                 seed: int = 0, augmentation: Augmentation | None = None,
                 label_format: str = "sparse", num_classes: int | None = None) -> Any:
    """Build a batched, prefetched `tf.data.Dataset` from arrays.

    Order: shuffle (a full-size buffer, seeded, reshuffled every epoch) -> batch (the
    last batch may be smaller) -> cast inputs to float32 -> encode labels -> augmentation
    -> prefetch(AUTOTUNE). Each batch gets its own `[2]` seed from a seeded
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

    Returns:
        The dataset of `(inputs, targets)` batches.

    Raises:
        DataError: For an unknown `label_format`, or "one_hot" without `num_classes`.
    """
    import tensorflow as tf

    if label_format not in LABEL_FORMATS:
        raise DataError(f"`label_format` must be one of {', '.join(LABEL_FORMATS)}. "
                        f"Received: label_format={label_format!r}.")
    soft = augmentation is not None and augmentation.soft_labels
    depth = 2 if label_format == "binary" and soft else num_classes
    if label_format == "one_hot" and not num_classes:
        raise DataError(f"`label_format='one_hot'` needs `num_classes`. Received: "
                        f"num_classes={num_classes!r}.")
    if np.issubdtype(x.dtype, np.floating):
        x = x.astype(np.float32, copy=False)  # once, up front: no per-batch cast needed
    dataset = tf.data.Dataset.from_tensor_slices((x, y))
    if shuffle:
        dataset = dataset.shuffle(len(x), seed=seed, reshuffle_each_iteration=True)
    dataset = dataset.batch(batch_size)
    one_hot = label_format == "one_hot" or (label_format == "binary" and soft)

    def prepare(inputs: Any, targets: Any) -> tuple[Any, Any]:
        inputs = tf.cast(inputs, tf.float32)
        if one_hot:
            targets = tf.one_hot(tf.cast(targets, tf.int32), depth, dtype=tf.float32)
        elif label_format == "binary":
            targets = tf.reshape(tf.cast(targets, tf.float32), (-1, 1))
        return inputs, targets

    if x.dtype != np.float32 or label_format in ("one_hot", "binary"):
        dataset = dataset.map(prepare, num_parallel_calls=tf.data.AUTOTUNE, deterministic=True)
    if augmentation is not None and augmentation.specs:
        seeds = tf.data.Dataset.random(seed=seed, rerandomize_each_iteration=True).batch(2)
        dataset = tf.data.Dataset.zip((dataset, seeds)).map(
            lambda batch, step_seed: augmentation(batch[0], batch[1], step_seed))
        if label_format == "binary" and soft:
            dataset = dataset.map(lambda inputs, targets: (inputs, targets[:, 1:]))
    return dataset.prefetch(tf.data.AUTOTUNE)
