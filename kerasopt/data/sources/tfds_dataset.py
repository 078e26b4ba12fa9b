"""A TensorFlow Datasets (`tensorflow_datasets`) data set, loaded into arrays."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np

from kerasopt.data import downloads
from kerasopt.data.errors import DataError
from kerasopt.data.options import Option
from kerasopt.data.source import DataSource, SourceData, encode_labels

_PROBE_HOST = "storage.googleapis.com"


class TfdsDataset(DataSource):
    """A supervised data set from the TensorFlow Datasets catalog (optional dependency).

    Needs `pip install tensorflow-datasets`; without it a DataError names the package.
    The data set is read with `as_supervised=True` into arrays (so it must fit in
    memory and have fixed-size inputs). When it is not prepared in the TFDS data
    folder yet, the internet is checked with a 3-second connection attempt first, so
    an offline machine fails at once with a DataError naming the data set and the
    offline sources; errors of the download itself become the same DataError.

    Args:
        options: `name` (required; a TFDS name such as "mnist" or "mnist:3.0.1"),
            `splits` (one or two TFDS split names: the training split, then the test
            split; defaults to ["train", "test"]; with one name `build_data` carves
            the test set off with `test_split`), `data_dir` (the TFDS data folder;
            defaults to TFDS's own default).

    Raises:
        DataError: For a missing package, an unknown name or split, variable-size
            inputs, or a data set that cannot be downloaded.
    """

    name = "tfds"
    options = (
        Option("name", (str,), required=True, doc="TFDS data set name"),
        Option("splits", (list,), default=["train", "test"], doc="[train split, test split]"),
        Option("data_dir", (str,), doc="TFDS data folder"),
    )

    def __init__(self, options: Mapping[str, Any]) -> None:
        super().__init__(options)
        splits = self.config["splits"]
        if not 1 <= len(splits) <= 2 or not all(isinstance(s, str) and s for s in splits):
            raise DataError(f"Data option `splits` must list one or two TFDS split names "
                            f"(training, then test). Received: splits={splits!r}.")

    def has_test_set(self) -> bool:
        """True when `splits` names a test split."""
        return len(self.config["splits"]) == 2

    def load(self, seed: int) -> SourceData:
        """Load (downloading if needed and possible); `seed` is unused."""
        try:
            import tensorflow_datasets as tfds
        except ImportError:
            raise DataError("Data source 'tfds' needs the package tensorflow-datasets: "
                            "pip install tensorflow-datasets") from None
        dataset = self.config["name"]
        try:
            builder = tfds.builder(dataset, data_dir=self.config["data_dir"])
        except Exception as err:  # TFDS raises its own DatasetNotFoundError family.
            raise DataError(f"Data option `name` is not a TFDS data set: name={dataset!r} "
                            f"({type(err).__name__}: {err}).") from None
        if not builder.is_prepared():
            url = f"https://{_PROBE_HOST} and the data set's own hosts"
            if not downloads.host_reachable(_PROBE_HOST):
                raise downloads.offline_error(self.name, dataset, url,
                                              f"{_PROBE_HOST} is unreachable")
            try:
                builder.download_and_prepare()
            except Exception as err:  # Network and checksum failures come in many types.
                raise downloads.offline_error(self.name, dataset, url,
                                              f"{type(err).__name__}: {err}") from err
        available = list(builder.info.splits.keys())
        arrays = []
        for split in self.config["splits"]:
            if split not in available:
                raise DataError(f"Data option `splits` names {split!r}, which {dataset!r} does "
                                f"not have. Splits found: {', '.join(available)}.")
            arrays.append(_to_arrays(tfds, builder, split, dataset))
        x, y = arrays[0]
        x_test, y_test = arrays[1] if len(arrays) == 2 else (None, None)
        if np.issubdtype(y.dtype, np.integer):
            y, y_test, names = encode_labels(y, y_test, "name")
            features = builder.info.features
            label = features[builder.info.supervised_keys[1]]
            if hasattr(label, "names") and len(label.names) == len(names):
                names = list(label.names)
            return SourceData(x=x, y=y, x_test=x_test, y_test=y_test, task="classification",
                              class_names=names)
        return SourceData(x=x, y=y.astype(np.float32), x_test=x_test, task="regression",
                          y_test=None if y_test is None else y_test.astype(np.float32),
                          class_names=None)


def _to_arrays(tfds: Any, builder: Any, split: str, dataset: str) -> tuple[np.ndarray, np.ndarray]:
    if builder.info.supervised_keys is None:
        raise DataError(f"The TFDS data set {dataset!r} has no (input, label) pairs "
                        "(supervised_keys), so it cannot be used for training here.")
    xs, ys = [], []
    for x, y in tfds.as_numpy(builder.as_dataset(split=split, as_supervised=True)):
        xs.append(x)
        ys.append(y)
    shapes = {np.shape(x) for x in xs}
    if len(shapes) > 1:
        raise DataError(f"The inputs of TFDS data set {dataset!r} (split {split!r}) have "
                        f"different shapes ({sorted(shapes)[:3]}...); only fixed-size inputs "
                        "can be loaded into arrays.")
    return np.stack(xs), np.asarray(ys)
