"""tf.data pipelines over streamed files: the seeded order of shards and samples, batch, decode, encode.

The order of training pass `e` (the streaming counterpart of the in-memory permutation,
:func:`kerasopt.data.pipeline.make_dataset`) is defined as follows, with
`key = [seed, e]` and `shuffle(n, s) = tf.random.experimental.stateless_shuffle(range(n), seed=s)`:

1. the files are put in the order `P = shuffle(F, key)` (F files, sorted by name);
2. `P` is cut into groups of `shuffle_shards` consecutive files;
3. the samples of group `g` (its files' samples one after the other, each file in its own
   order) are permuted by `shuffle(n_g, stateless_fold_in(key, -(g + 1)))`;
4. the groups follow one another and the stream is cut into batches of `batch_size`
   (the last one may be smaller); batch `i` is augmented with the seed
   `stateless_fold_in(key, i)`, as in memory.

So the order is a function of `(seed, e)` alone (a resumed run sees the same batches),
and it differs from the in-memory order only in that a sample moves within its group
of `shuffle_shards` files, not across the whole split: with one group holding every
file it is a full permutation (of the samples in file order). At most one group's
samples are in memory at a time. Without shuffling, files and samples keep their order.
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

import numpy as np

from kerasopt.data.augmentation import Augmentation
from kerasopt.data.errors import DataError
from kerasopt.data.pipeline import batch_encoder, numbered_forms, shard_by_data
from kerasopt.data.stream import Stream
from kerasopt.suggestions import did_you_mean

CACHES = ("none", "memory")
"""The `cache` values besides a folder path."""


def stream_order(counts: np.ndarray, seed: int, epoch: int, shuffle_shards: int) -> Any:
    """The order of pass `epoch` as indices into the samples in file order (for tests and tools).

    Computed with the same TensorFlow primitives as the pipeline, step by step as the
    module docstring defines it.

    Args:
        counts: Samples per file.
        seed: The run's seed.
        epoch: The pass number.
        shuffle_shards: Files per shuffle group.

    Returns:
        A 1-D int64 NumPy array: the `k`-th sample of the pass is sample `order[k]` of the
        files read in sorted order.
    """
    import tensorflow as tf

    key = tf.constant([seed, epoch], tf.int64)
    starts = np.concatenate([[0], np.cumsum(counts)[:-1]])
    files = tf.random.experimental.stateless_shuffle(tf.range(len(counts), dtype=tf.int64), seed=key).numpy()
    order = []
    for g in range(math.ceil(len(files) / shuffle_shards)):
        group = files[g * shuffle_shards:(g + 1) * shuffle_shards]
        samples = np.concatenate([np.arange(starts[f], starts[f] + counts[f]) for f in group])
        seed_g = tf.random.experimental.stateless_fold_in(key, tf.constant(-(g + 1), tf.int64))
        order.append(samples[tf.random.experimental.stateless_shuffle(
            tf.range(len(samples), dtype=tf.int64), seed=seed_g).numpy()])
    return np.concatenate(order)


def cache_problem(cache: Any, option: str = "cache") -> str | None:
    """Why `cache` is no allowed value ("none", "memory" or a writable folder), or None."""
    if not isinstance(cache, str) or not cache:
        return f"`{option}` must be 'none', 'memory' or a folder path. Received: {option}={cache!r}."
    if cache in CACHES:
        return None
    if "/" not in cache and not cache.startswith("~"):  # "memroy" is a typo, not a folder to create
        close = did_you_mean(cache, CACHES)
        hint = f" Did you mean {close[0]!r}?" if close else ""
        return (f"`{option}` must be 'none', 'memory' or a folder path with a '/' (./{cache} for a folder "
                f"here).{hint} Received: {option}={cache!r}.")
    folder = Path(cache).expanduser()
    parent = folder if folder.exists() else folder.parent
    if folder.exists() and not folder.is_dir():
        return f"`{option}` must be 'none', 'memory' or a folder; {cache!r} is a file. Received: {option}={cache!r}."
    if not parent.is_dir():
        return (f"`{option}`: the folder {cache!r} cannot be created, its parent does not exist. "
                f"Received: {option}={cache!r}; allowed: 'none', 'memory' or a folder path.")
    return None


def stream_passes(stream: Stream, *, batch_size: int, epoch: Any, shuffle: bool, seed: int,
                  shuffle_shards: int = 1, augmentation: Augmentation | None = None,
                  label_format: str = "sparse", num_classes: int | None = None,
                  cache: str = "none", forms: tuple[str, ...] = ("pass", "endless")) -> list[Any]:
    """The training passes of a stream, numbered by `epoch` (see the module docstring for the order).

    Args:
        stream: The training split.
        batch_size: Samples per batch, >= 1.
        epoch: The pass counter (scalar int64 `tf.Variable`), as in `make_dataset`.
        shuffle: Shuffle files and samples every pass. Defaults to `False`.
        seed: The seed of the order and the augmentation.
        shuffle_shards: Files whose samples are permuted together, >= 1. Defaults to `1`.
        augmentation: Steps applied to each batch, or `None`. Defaults to `None`.
        label_format: As in `make_dataset`. Defaults to `"sparse"`.
        num_classes: As in `make_dataset`. Defaults to `None`.
        cache: "none"; "memory" (the decoded samples are kept after the first read and each
            pass gathers them in the same order); or a folder (each file's decoded samples
            are written there once, `train-<i>`, and read back on later passes). Defaults
            to `"none"`.
        forms: `"pass"` and/or `"endless"`, as in `make_training_datasets`. Defaults to both.

    Returns:
        One prefetched dataset per form.
    """
    import tensorflow as tf

    if isinstance(shuffle_shards, bool) or not isinstance(shuffle_shards, int) or shuffle_shards < 1:
        raise DataError(f"`shuffle_shards` must be an integer >= 1. Received: shuffle_shards={shuffle_shards!r}.")
    problem = cache_problem(cache)
    if problem:
        raise DataError(problem)
    soft = augmentation is not None and augmentation.soft_labels
    augmented = augmentation is not None and bool(augmentation.specs)
    encode = batch_encoder(label_format, num_classes, soft, inputs_float32=False)
    count = len(stream.files)
    groups = math.ceil(count / shuffle_shards)
    batches = math.ceil(stream.samples / batch_size)
    counts = tf.constant(stream.counts, tf.int64)
    read = _reader(stream, cache, "train")
    whole = _whole(stream) if cache == "memory" else None

    def group(key: Any, order: Any, g: Any) -> Any:
        files = order[g * shuffle_shards:(g + 1) * shuffle_shards]
        if whole is not None:
            chosen = tf.gather(tf.cumsum(counts, exclusive=True), files)
            samples = tf.ragged.range(chosen, chosen + tf.gather(counts, files)).flat_values
            if shuffle:
                samples = tf.gather(samples, _permutation(tf.size(samples, tf.int64), key, g))
            return tf.data.Dataset.from_tensor_slices(samples)
        items = tf.data.Dataset.from_tensor_slices(files).flat_map(read)
        if not shuffle:
            return items
        def permuted(*held: Any) -> Any:
            order = _permutation(tf.shape(held[0], out_type=tf.int64)[0], key, g)
            held = tuple(tf.gather(t, order) for t in held)
            return held if len(held) > 1 else held[0]

        return items.batch(2**62).map(permuted).unbatch()

    def one_pass(number: Any) -> Any:
        key = tf.stack([tf.constant(seed, tf.int64), number])
        order = tf.range(count, dtype=tf.int64)
        if shuffle:
            order = tf.random.experimental.stateless_shuffle(order, seed=key)
        samples = tf.data.Dataset.range(groups).flat_map(lambda g: group(key, order, g))
        if whole is not None:
            batched = samples.batch(batch_size).map(lambda index: whole.gather(index))
        else:
            batched = samples.batch(batch_size)
        if augmented:
            batched = tf.data.Dataset.zip((batched, tf.data.Dataset.range(batches).map(
                lambda i: tf.random.experimental.stateless_fold_in(key, i))))
        return batched

    def finish(batch: Any, step_seed: Any = None) -> Any:
        inputs, targets = _decode(stream, batch)
        if encode is not None:
            inputs, targets = encode(inputs, targets)
        if augmented:
            inputs, targets = augmentation(inputs, targets, step_seed)
            if label_format == "binary" and soft:
                targets = targets[:, 1:]
        return inputs, targets

    datasets = numbered_forms(one_pass, epoch, batches, forms)
    datasets = [d.map(finish if augmented else (lambda *b: finish(b if len(b) > 1 else b[0])),
                      num_parallel_calls=tf.data.AUTOTUNE, deterministic=True) for d in datasets]
    return [shard_by_data(d.prefetch(tf.data.AUTOTUNE)) for d in datasets]


def stream_dataset(stream: Stream, *, batch_size: int, label_format: str = "sparse",
                   num_classes: int | None = None, cache: str = "none", name: str = "eval") -> Any:
    """The batches of a split in file order (validation, test, statistics), decoded and encoded.

    Args:
        stream: The split.
        batch_size: Samples per batch.
        label_format: As in `make_dataset`. Defaults to `"sparse"`.
        num_classes: As in `make_dataset`. Defaults to `None`.
        cache: As in `stream_passes`; here the decoded split is cached whole. Defaults to `"none"`.
        name: The cache file's name inside a cache folder. Defaults to `"eval"`.

    Returns:
        The prefetched dataset, with its known number of batches.
    """
    import tensorflow as tf

    encode = batch_encoder(label_format, num_classes, False, inputs_float32=False)
    items = tf.data.Dataset.range(len(stream.files)).flat_map(_reader(stream, "none", name))
    batched = items.batch(batch_size).map(lambda *b: _decode(stream, b if len(b) > 1 else b[0]),
                                          num_parallel_calls=tf.data.AUTOTUNE, deterministic=True)
    if encode is not None:
        batched = batched.map(encode, num_parallel_calls=tf.data.AUTOTUNE, deterministic=True)
    if cache == "memory":
        batched = batched.cache()
    elif cache != "none":
        Path(cache).expanduser().mkdir(parents=True, exist_ok=True)
        batched = batched.cache(str(Path(cache).expanduser() / name))
    batched = batched.apply(tf.data.experimental.assert_cardinality(math.ceil(stream.samples / batch_size)))
    return shard_by_data(batched.prefetch(tf.data.AUTOTUNE))


def _permutation(size: Any, key: Any, g: Any) -> Any:
    import tensorflow as tf

    seed = tf.random.experimental.stateless_fold_in(key, -(tf.cast(g, tf.int64) + 1))
    return tf.random.experimental.stateless_shuffle(tf.range(size, dtype=tf.int64), seed=seed)


def _reader(stream: Stream, cache: str, name: str) -> Any:
    """`read(i)`: file `i`'s samples, each through `decode_element`; from a cache file with a cache folder."""
    import tensorflow as tf

    folder = None if cache in CACHES else Path(cache).expanduser()
    if folder is not None:
        folder.mkdir(parents=True, exist_ok=True)

    def read(i: Any) -> Any:
        items = stream.elements(i)
        if stream.decode_element is not None:
            items = items.map(stream.decode_element)
        if folder is not None:
            items = items.cache(tf.strings.join([str(folder / name), "-", tf.strings.as_string(i)]))
        return items

    return read


def _decode(stream: Stream, batch: Any) -> Any:
    return stream.decode_batch(batch) if stream.decode_batch is not None else batch


class _Whole:
    """The decoded samples of a whole split, read once into memory (`cache: memory`)."""

    def __init__(self, stream: Stream) -> None:
        import tensorflow as tf

        items = tf.data.Dataset.range(len(stream.files)).flat_map(_reader(stream, "none", "train"))
        self.tensors = items.batch(2**62).get_single_element()

    def gather(self, index: Any) -> Any:
        import tensorflow as tf

        return tf.nest.map_structure(lambda t: tf.gather(t, index), self.tensors)


def _whole(stream: Stream) -> _Whole:
    return _Whole(stream)
