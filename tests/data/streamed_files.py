"""MNIST-1D (a few hundred samples) written as TFRecord shards, `.npz` shards and a PNG folder."""

from __future__ import annotations

from pathlib import Path

import numpy as np

FEATURES = {"x": {"dtype": "float32", "shape": [40, 1]}, "y": {"dtype": "int64", "shape": []}}


def small_mnist1d(samples: int = 300) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """`(x, y, x_test, y_test)` of MNIST-1D generated with `num_samples`, inputs `(n, 40, 1)` float32."""
    from mnist1d.data import get_dataset_args, make_dataset

    args = get_dataset_args()
    args.num_samples = samples
    data = make_dataset(args)
    shaped = [np.asarray(data[k], np.float32)[..., None] for k in ("x", "x_test")]
    return shaped[0], np.asarray(data["y"], np.int64), shaped[1], np.asarray(data["y_test"], np.int64)


def write_tfrecords(folder: Path, prefix: str, x: np.ndarray, y: np.ndarray, shards: int) -> list[Path]:
    """Write `x`, `y` as `shards` TFRecord files of `tf.train.Example`s (features "x" and "y"), in order."""
    import tensorflow as tf

    folder.mkdir(parents=True, exist_ok=True)
    paths = []
    for index, part in enumerate(np.array_split(np.arange(len(x)), shards)):
        path = folder / f"{prefix}-{index:03d}.tfrecord"
        with tf.io.TFRecordWriter(str(path)) as writer:
            for i in part:
                example = tf.train.Example(features=tf.train.Features(feature={
                    "x": tf.train.Feature(float_list=tf.train.FloatList(value=x[i].ravel())),
                    "y": tf.train.Feature(int64_list=tf.train.Int64List(value=[int(y[i])]))}))
                writer.write(example.SerializeToString())
        paths.append(path)
    return paths


def write_npz_shards(folder: Path, prefix: str, x: np.ndarray, y: np.ndarray, shards: int) -> list[Path]:
    """Write `x`, `y` as `shards` `.npz` files holding arrays "x" and "y", in order."""
    folder.mkdir(parents=True, exist_ok=True)
    paths = []
    for index, part in enumerate(np.array_split(np.arange(len(x)), shards)):
        path = folder / f"{prefix}-{index:03d}.npz"
        np.savez(path, x=x[part], y=y[part])
        paths.append(path)
    return paths


def write_png_folder(folder: Path, x: np.ndarray, y: np.ndarray) -> None:
    """Write 8-bit grayscale PNGs `folder/<class>/<i>.png` from `x` `(n, h, w)` uint8."""
    from PIL import Image

    for i, (image, label) in enumerate(zip(x, y, strict=True)):
        (folder / f"c{label}").mkdir(parents=True, exist_ok=True)
        Image.fromarray(image).save(folder / f"c{label}" / f"{i:04d}.png")


def numpy_order(counts: np.ndarray, seed: int, epoch: int, group: int) -> np.ndarray:
    """Pass `epoch`'s order as docs/data.md defines it, composed in NumPy (the permutations and
    seeds are TensorFlow's stateless ones, as for the in-memory order)."""
    import tensorflow as tf

    key = np.array([seed, epoch], np.int64)
    files = tf.random.experimental.stateless_shuffle(tf.range(len(counts), dtype=tf.int64), seed=key).numpy()
    starts = np.cumsum(counts) - counts
    order = []
    for g in range(0, len(files), group):
        samples = np.concatenate([np.arange(starts[f], starts[f] + counts[f]) for f in files[g:g + group]])
        seed_g = tf.random.experimental.stateless_fold_in(key, tf.constant(-(g // group + 1), tf.int64))
        order.append(samples[tf.random.experimental.stateless_shuffle(
            tf.range(len(samples), dtype=tf.int64), seed=seed_g).numpy()])
    return np.concatenate(order)
