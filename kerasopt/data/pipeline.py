"""tf.data pipelines over in-memory arrays: shuffle, batch, augment, prefetch."""

from __future__ import annotations

from typing import Any

import numpy as np

from kerasopt.data.augmentation import Augmentation


def make_dataset(x: np.ndarray, y: np.ndarray, *, batch_size: int, shuffle: bool = False,
                 seed: int = 0, augmentation: Augmentation | None = None,
                 one_hot: int | None = None) -> Any:
    """Build a batched, prefetched `tf.data.Dataset` from arrays.

    Order: shuffle (a full-size buffer, seeded, reshuffled every epoch) -> batch (the
    last batch may be smaller) -> cast inputs to float32 -> one-hot labels (if asked)
    -> augmentation -> prefetch(AUTOTUNE). Each batch gets its own `[2]` seed from a
    seeded `tf.data.Dataset.random` stream that is re-randomized every epoch, so the
    augmentation differs between epochs yet the whole run is reproducible from `seed`.
    Inputs stay raw (not normalized): normalization is the model's first layer.

    Args:
        x: Inputs.
        y: Targets (int class indices or float regression targets).
        batch_size: Samples per batch, >= 1.
        shuffle: Shuffle the samples every epoch. Defaults to `False`.
        seed: The seed of shuffling and augmentation. Defaults to `0`.
        augmentation: Steps applied to each batch, or `None`. Defaults to `None`.
        one_hot: The number of classes to one-hot encode labels to, or `None` to keep
            them. Defaults to `None`.

    Returns:
        The dataset of `(inputs, targets)` batches.
    """
    import tensorflow as tf

    if np.issubdtype(x.dtype, np.floating):
        x = x.astype(np.float32, copy=False)  # once, up front: no per-batch cast needed
    dataset = tf.data.Dataset.from_tensor_slices((x, y))
    if shuffle:
        dataset = dataset.shuffle(len(x), seed=seed, reshuffle_each_iteration=True)
    dataset = dataset.batch(batch_size)

    def prepare(inputs: Any, targets: Any) -> tuple[Any, Any]:
        inputs = tf.cast(inputs, tf.float32)
        if one_hot is not None:
            targets = tf.one_hot(tf.cast(targets, tf.int32), one_hot, dtype=tf.float32)
        return inputs, targets

    if x.dtype != np.float32 or one_hot is not None:  # integer images are cast per batch
        dataset = dataset.map(prepare, num_parallel_calls=tf.data.AUTOTUNE, deterministic=True)
    if augmentation is not None and augmentation.specs:
        seeds = tf.data.Dataset.random(seed=seed, rerandomize_each_iteration=True).batch(2)
        dataset = tf.data.Dataset.zip((dataset, seeds)).map(
            lambda batch, step_seed: augmentation(batch[0], batch[1], step_seed))
    return dataset.prefetch(tf.data.AUTOTUNE)
