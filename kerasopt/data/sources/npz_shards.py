"""Arrays streamed shard by shard from several `.npz` files, each holding its own inputs and targets."""

from __future__ import annotations

import zipfile
from typing import Any

import numpy as np

from kerasopt.data.data_problem import DataProblem, raise_first
from kerasopt.data.errors import DataError
from kerasopt.data.options import Option
from kerasopt.data.stream import Stream, StreamData
from kerasopt.data.streaming_source import STREAM_OPTIONS, StreamingSource, glob_files

SPLITS = (("files", "train"), ("validation_files", "validation"), ("test_files", "test"))


class NpzShards(StreamingSource):
    """Samples streamed from `.npz` shards (each written with `numpy.savez(path, x=..., y=...)`).

    Each shard is loaded whole when its turn comes (`allow_pickle=False`) and only then,
    so memory holds one group of `shuffle_shards` shards at a time; the shard is the
    unit the seeded order shuffles (`kerasopt.data.stream_pipeline`). Inputs are cast
    to float32. Classification targets are class indices `0..num_classes-1`;
    regression targets are read as float32.

    `kerasopt validate` reads each shard's array headers only (shapes and dtypes, not
    the data): the keys exist, every shard's inputs have the same sample shape, and
    inputs and targets have the same length.

    Args:
        options: `files` (required, a glob pattern), `test_files` (required),
            `validation_files` (defaults to `None`), `x_key` ("x"), `y_key` ("y"),
            `task` ("classification" or "regression"), `num_classes` (required for
            classification), `cache`, `shuffle_shards`.

    Raises:
        DataError: For a pattern that matches no file, a file that is no `.npz` file, a
            missing key, or shards whose shapes disagree, naming the file.
    """

    name = "npz_shards"
    options = (
        Option("files", (str,), required=True, doc="glob pattern of the training .npz shards"),
        Option("test_files", (str,), required=True, doc="glob pattern of the test shards"),
        Option("validation_files", (str,), doc="glob pattern of the validation shards"),
        Option("x_key", (str,), default="x", doc="array name of the inputs"),
        Option("y_key", (str,), default="y", doc="array name of the targets"),
        Option("task", (str,), default="classification", choices=("classification", "regression")),
        Option("num_classes", (int,), doc="classes (labels 0..num_classes-1); required for classification"),
        *STREAM_OPTIONS,
    )

    def check(self, class_weight: Any = None, loss: Any = None, output_activation: str = "auto",
              output_units: int | None = None) -> list[DataProblem]:
        """Check the patterns and every shard's array headers (no data is read)."""
        try:
            self._headers()
        except DataError as err:
            if err.problem is None:
                raise
            return [err.problem]
        return self.stream_problems() + self._class_problems()

    def known_classes(self) -> int | None:
        """`num_classes` for classification; None for regression."""
        return self.config["num_classes"] if self.config["task"] == "classification" else None

    def streams(self) -> StreamData:
        """The three splits, their sample counts read from the array headers."""
        raise_first(self.stream_problems() + self._class_problems())
        headers = self._headers()
        x_shape, y_shape = headers["train"][0][1]
        splits = {split: self._stream(files, x_shape, y_shape) for split, files in headers.items()}
        classes = self.config["num_classes"]
        return StreamData(
            train=splits["train"], validation=splits.get("validation"), test=splits["test"],
            input_shape=x_shape, target_shape=y_shape, task=self.config["task"],
            class_names=[str(i) for i in range(classes)] if self.config["task"] == "classification" else None)

    def _class_problems(self) -> list[DataProblem]:
        classes = self.config["num_classes"]
        if self.config["task"] == "classification" and (classes is None or classes < 2):
            return [DataProblem("num_classes", "Classification from .npz shards needs `num_classes` >= 2 "
                                f"(labels are 0..num_classes-1). Received: num_classes={classes!r}.", classes, ">= 2")]
        return []

    def _headers(self) -> dict[str, list[tuple[str, tuple[tuple[int, ...], tuple[int, ...]], int]]]:
        """Per split: each file, its (input shape, target shape) per sample and its sample count."""
        cfg = self.config
        found: dict[str, list[Any]] = {}
        first = None
        for option, split in SPLITS:
            if cfg[option] is None:
                continue
            files, problem = glob_files(option, cfg[option], ".npz file")
            raise_first([problem] if problem else [])
            found[split] = []
            for path in files:
                (x_shape, _), (y_shape, _) = (_header(option, path, cfg[key], key) for key in ("x_key", "y_key"))
                if len(x_shape) < 2 or x_shape[0] != (y_shape[0] if y_shape else -1):
                    raise DataProblem(option, f"The shard {path!r} (matched by `{option}`) holds inputs of shape "
                                      f"{x_shape} and targets of shape {y_shape}: inputs need one row per "
                                      "sample and as many targets as rows.", path, "x (n, ...), y (n, ...)").error()
                shapes = (tuple(x_shape[1:]), tuple(y_shape[1:]))
                first = first or (path, shapes)
                if shapes != first[1]:
                    raise DataProblem(option, f"The shard {path!r} (matched by `{option}`) holds samples of shape "
                                      f"{shapes[0]} (targets {shapes[1]}) where {first[0]!r} holds {first[1][0]} "
                                      f"(targets {first[1][1]}); every shard must match.", path, first[1]).error()
                found[split].append((path, shapes, int(x_shape[0])))
        return found

    def _stream(self, files: list[Any], x_shape: tuple[int, ...], y_shape: tuple[int, ...]) -> Stream:
        import tensorflow as tf

        names = [path for path, _, _ in files]
        x_key, y_key = self.config["x_key"], self.config["y_key"]
        y_dtype = np.int64 if self.config["task"] == "classification" else np.float32

        def load(index: Any) -> tuple[np.ndarray, np.ndarray]:
            with np.load(names[int(index)], allow_pickle=False) as archive:
                return archive[x_key].astype(np.float32), archive[y_key].astype(y_dtype)

        def read(index: Any) -> tuple[Any, Any]:
            x, y = tf.numpy_function(load, [index], [tf.float32, tf.as_dtype(y_dtype)], stateful=False)
            x.set_shape([None, *x_shape])
            y.set_shape([None, *y_shape])
            return x, y

        return Stream(files=names, counts=np.array([n for _, _, n in files], np.int64),
                      elements=lambda i: tf.data.Dataset.from_tensors(i).map(read).unbatch())


def _header(option: str, path: str, key: str, key_option: str) -> tuple[tuple[int, ...], np.dtype]:
    """The shape and dtype of array `key` in the `.npz` file `path`, read from its `.npy` header."""
    where = f"{path!r} (matched by `{option}`)"
    try:
        with zipfile.ZipFile(path) as archive:
            names = [n[:-4] for n in archive.namelist() if n.endswith(".npy")]
            if key not in names:
                raise DataProblem(key_option, f"The shard {where} has no array named {key!r} (option "
                                  f"`{key_option}`). Arrays found: {', '.join(names) or 'none'}.", key, names).error()
            with archive.open(key + ".npy") as member:
                version = np.lib.format.read_magic(member)
                reader = np.lib.format.read_array_header_1_0 if version == (1, 0) else \
                    np.lib.format.read_array_header_2_0
                shape, _, dtype = reader(member)
    except (OSError, ValueError, zipfile.BadZipFile) as err:
        if getattr(err, "problem", None) is not None:
            raise
        raise DataProblem(option, f"Cannot read {where} as a NumPy .npz file ({err}). Write each shard with "
                          "numpy.savez(path, x=..., y=...).", path, "a .npz file").error() from None
    if not (np.issubdtype(dtype, np.number) or dtype == np.bool_):
        raise DataProblem(key_option, f"The array {key!r} in {where} must be numeric. Received dtype {dtype}.",
                          str(dtype), "numbers").error()
    return tuple(shape), dtype
