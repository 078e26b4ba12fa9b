"""`tf.train.Example` records streamed from TFRecord shards, with a declared feature spec."""

from __future__ import annotations

import struct
from typing import Any

import numpy as np

from kerasopt.data.data_problem import DataProblem, raise_first
from kerasopt.data.options import Option
from kerasopt.data.stream import Stream, StreamData
from kerasopt.data.streaming_source import STREAM_OPTIONS, StreamingSource, glob_files
from kerasopt.suggestions import did_you_mean

DTYPES = ("float32", "int64")
"""The feature dtypes a `tf.train.Example` holds as numbers (float_list, int64_list)."""

SPLITS = (("files", "train"), ("validation_files", "validation"), ("test_files", "test"))


class TFRecordFiles(StreamingSource):
    """Samples streamed from TFRecord files of `tf.train.Example` records.

    Each record holds the inputs under `x_key` and the target under `y_key`, as fixed
    length features declared in `features`:
    `{x: {dtype: float32, shape: [40, 1]}, y: {dtype: int64, shape: []}}` (dtype float32
    or int64; shape a list of sizes, `[]` for a scalar). Records are parsed per batch
    (`tf.io.parse_example`). `files`, `validation_files` and `test_files` are glob
    patterns (`data/train-*.tfrecord`); each match is one shard, the unit the seeded
    order shuffles (`kerasopt.data.stream_pipeline`). Classification targets are class
    indices `0..num_classes-1` (int64); regression targets are float32.

    `kerasopt validate` checks the spec, that each pattern matches files and that each
    file opens with a TFRecord frame; building the data also parses every file's first
    record with the spec, so a file written with another spec is named before training.

    Args:
        options: `files` (required), `features` (required), `test_files` (required),
            `validation_files` (defaults to `None`: no validation), `x_key` ("x"),
            `y_key` ("y"), `task` ("classification" or "regression"), `num_classes`
            (required for classification), `cache`, `shuffle_shards`.

    Raises:
        DataError: For a pattern that matches no file, a bad spec, a file that is no
            TFRecord file or whose records do not match the spec.
    """

    name = "tfrecord"
    options = (
        Option("files", (str,), required=True, doc="glob pattern of the training TFRecord shards"),
        Option("features", (dict,), required=True,
               doc="the feature spec: {x: {dtype: float32, shape: [40, 1]}, y: {dtype: int64, shape: []}}"),
        Option("test_files", (str,), required=True, doc="glob pattern of the test shards"),
        Option("validation_files", (str,), doc="glob pattern of the validation shards"),
        Option("x_key", (str,), default="x", doc="feature name of the inputs"),
        Option("y_key", (str,), default="y", doc="feature name of the targets"),
        Option("task", (str,), default="classification", choices=("classification", "regression")),
        Option("num_classes", (int,), doc="classes (labels 0..num_classes-1); required for classification"),
        *STREAM_OPTIONS,
    )

    def check(self, class_weight: Any = None, loss: Any = None, output_activation: str = "auto",
              output_units: int | None = None) -> list[DataProblem]:
        """Check the spec, the patterns and the first frame of every file (no record is parsed)."""
        problems = self._spec_problems() + self.stream_problems()
        for option, _ in SPLITS:
            if self.config[option] is None:
                continue
            files, problem = glob_files(option, self.config[option], "TFRecord file")
            problems += [problem] if problem else [p for f in files for p in [_frame_problem(option, f)] if p]
        if not problems and self.known_classes() and output_units is not None:
            problems += super().check(class_weight, loss, output_activation, output_units)
        return problems

    def known_classes(self) -> int | None:
        """`num_classes` for classification, 0 (one output) for a scalar regression target."""
        if self.config["task"] == "classification":
            return self.config["num_classes"]
        return None

    def streams(self) -> StreamData:
        """Resolve the patterns, count the records and check each file's first record against the spec."""
        raise_first(self._spec_problems() + self.stream_problems())
        spec = self.config["features"]
        x_key, y_key = self.config["x_key"], self.config["y_key"]
        splits = {}
        for option, split in SPLITS:
            if self.config[option] is None:
                continue
            files, problem = glob_files(option, self.config[option], "TFRecord file")
            raise_first([problem] if problem else [])
            splits[split] = _stream(option, files, spec, x_key, y_key)
        classes = self.config["num_classes"]
        return StreamData(
            train=splits["train"], validation=splits.get("validation"), test=splits["test"],
            input_shape=tuple(spec[x_key]["shape"]), target_shape=tuple(spec[y_key]["shape"]),
            task=self.config["task"],
            class_names=[str(i) for i in range(classes)] if self.config["task"] == "classification" else None)

    def _spec_problems(self) -> list[DataProblem]:
        cfg = self.config
        spec, problems = cfg["features"], []
        for key_option in ("x_key", "y_key"):
            if cfg[key_option] not in spec:
                problems.append(DataProblem(
                    f"features.{cfg[key_option]}", f"`features` must declare the feature {cfg[key_option]!r} "
                    f"(option `{key_option}`). Declared: {', '.join(map(str, spec)) or 'none'}.",
                    list(spec), None, did_you_mean(cfg[key_option], list(spec))))
        for name, entry in spec.items():
            problems += _entry_problems(str(name), entry)
        if problems:
            return problems
        y = spec[cfg["y_key"]]
        want = "int64" if cfg["task"] == "classification" else "float32"
        if y["dtype"] != want:
            problems.append(DataProblem(f"features.{cfg['y_key']}.dtype",
                                        f"The {cfg['task']} target {cfg['y_key']!r} must have dtype {want}. "
                                        f"Received: dtype={y['dtype']!r}.", y["dtype"], want))
        if cfg["task"] == "classification":
            if y["shape"] != []:
                problems.append(DataProblem(f"features.{cfg['y_key']}.shape",
                                            "A class label is one integer per sample: shape []. "
                                            f"Received: shape={y['shape']!r}.", y["shape"], []))
            classes = cfg["num_classes"]
            if classes is None or classes < 2:
                problems.append(DataProblem("num_classes", "Classification from TFRecord files needs "
                                            "`num_classes` >= 2 (labels are 0..num_classes-1). "
                                            f"Received: num_classes={classes!r}.", classes, ">= 2"))
        return problems


def _entry_problems(name: str, entry: Any) -> list[DataProblem]:
    """Problems with one feature's declaration `{dtype: ..., shape: [...]}`."""
    key = f"features.{name}"
    if not isinstance(entry, dict):
        return [DataProblem(key, f"`{key}` must be a mapping {{dtype: ..., shape: [...]}}. "
                            f"Received: {entry!r}.", entry, "{dtype, shape}")]
    problems = []
    for field in entry:
        if field not in ("dtype", "shape"):
            problems.append(DataProblem(f"{key}.{field}", f"Unknown field {field!r} in `{key}`. "
                                        "Allowed: dtype, shape.", field, ["dtype", "shape"],
                                        did_you_mean(str(field), ["dtype", "shape"])))
    dtype, shape = entry.get("dtype"), entry.get("shape")
    if dtype not in DTYPES:
        problems.append(DataProblem(f"{key}.dtype", f"`{key}.dtype` must be one of {', '.join(DTYPES)}. "
                                    f"Received: dtype={dtype!r}.", dtype, list(DTYPES),
                                    did_you_mean(str(dtype), DTYPES)))
    if not isinstance(shape, list) or not all(
            isinstance(d, int) and not isinstance(d, bool) and d >= 1 for d in shape):
        problems.append(DataProblem(f"{key}.shape", f"`{key}.shape` must be a list of sizes >= 1 "
                                    f"([] for a scalar). Received: shape={shape!r}.", shape, "a list of ints >= 1"))
    return problems


def _frame_problem(option: str, path: str) -> DataProblem | None:
    """The problem when `path` does not open with a TFRecord frame (length, CRC, data, CRC), or None."""
    with open(path, "rb") as file:
        header = file.read(12)
        size = file.seek(0, 2)
    if len(header) < 12:
        what = "is empty" if not header else "is too short for a TFRecord file"
        return DataProblem(option, f"The file {path!r} (matched by `{option}`) {what}.", path, "TFRecord files")
    (length,) = struct.unpack("<Q", header[:8])
    if 12 + length + 4 > size:
        return DataProblem(option, f"The file {path!r} (matched by `{option}`) is not a TFRecord file (or is "
                           f"truncated): its first record claims {length:,} bytes in a {size:,}-byte file. "
                           "Write TFRecord files with tf.io.TFRecordWriter.", path, "TFRecord files")
    return None


def count_records(path: str, option: str) -> int:
    """The number of records in a TFRecord file, by walking its frames (the data is not read).

    Raises:
        DataError: For a file that is no TFRecord file or is truncated, naming it.
    """
    count = position = 0
    with open(path, "rb") as file:
        size = file.seek(0, 2)
        while position < size:
            file.seek(position)
            header = file.read(8)
            if len(header) < 8:
                break
            position += 12 + struct.unpack("<Q", header)[0] + 4
            count += 1
    if position != size or count == 0:
        raise DataProblem(option, f"The file {path!r} (matched by `{option}`) is not a TFRecord file or is "
                          f"truncated (its frames end at byte {position:,} of {size:,}). Write TFRecord "
                          "files with tf.io.TFRecordWriter.", path, "TFRecord files").error()
    return count


def _stream(option: str, files: list[str], spec: dict[str, Any], x_key: str, y_key: str) -> Stream:
    import tensorflow as tf

    features = {key: tf.io.FixedLenFeature(spec[key]["shape"], getattr(tf, spec[key]["dtype"]))
                for key in (x_key, y_key)}
    names = tf.constant(files)
    for path in files:
        first = next(iter(tf.data.TFRecordDataset(path).take(1)))
        try:
            tf.io.parse_single_example(first, features)
        except (tf.errors.InvalidArgumentError, ValueError) as err:
            found = _found_features(first.numpy())
            raise DataProblem(option, f"The records of {path!r} (matched by `{option}`) do not match the "
                              f"declared `features` ({_short(err)}). Features in its first record: "
                              f"{found}; declared: { {k: spec[k] for k in (x_key, y_key)} }.",
                              path, {k: spec[k] for k in (x_key, y_key)}).error() from None

    def decode(serialized: Any) -> tuple[Any, Any]:
        parsed = tf.io.parse_example(serialized, features)
        return parsed[x_key], parsed[y_key]

    return Stream(files=files, counts=np.array([count_records(f, option) for f in files], np.int64),
                  elements=lambda i: tf.data.TFRecordDataset(tf.gather(names, i)), decode_batch=decode)


def _found_features(record: bytes) -> str:
    """`name: dtype[length]` for each feature of a serialized `tf.train.Example`."""
    import tensorflow as tf

    try:
        example = tf.train.Example.FromString(record)
    except Exception:  # noqa: BLE001 - any decode failure means "not an Example"
        return "none (the record is no tf.train.Example)"
    parts = []
    for name, feature in sorted(example.features.feature.items()):
        kind = feature.WhichOneof("kind")
        values = getattr(feature, kind).value if kind else []
        dtype = {"float_list": "float32", "int64_list": "int64", "bytes_list": "bytes"}.get(kind, "empty")
        parts.append(f"{name}: {dtype}[{len(values)}]")
    return ", ".join(parts) or "none"


def _short(err: Exception) -> str:
    text = getattr(err, "message", str(err)).strip().splitlines()[0]
    return text if len(text) < 300 else text[:300] + "..."
