"""Arrays from a NumPy `.npz` file (and optionally a second file for the test set)."""

from __future__ import annotations

import zipfile
from pathlib import Path

import numpy as np

from kerasopt.data.errors import DataError
from kerasopt.data.options import Option
from kerasopt.data.source import (
    TASKS,
    DataSource,
    SourceData,
    encode_labels,
    existing_path,
    regression_targets,
)


class NpzFile(DataSource):
    """Inputs and targets read from `.npz` files written with `numpy.savez`.

    The file is opened with `allow_pickle=False` (a data file never runs code). For
    classification, labels (integers or strings) are mapped to indices 0..K-1 in
    sorted order and `class_names` keeps the original labels; for regression
    (`task: regression`) targets are read as float32. With `test_path`, that file
    (with the same keys) is the test set; without it, `build_data` carves one off
    with `test_split`.

    Args:
        options: `path` (required), `x_key` (defaults to "x"), `y_key` (defaults to
            "y"), `test_path` (defaults to `None`), `task` (defaults to
            "classification").

    Raises:
        DataError: For a missing or unreadable file, or a key the file does not hold
            (the message lists the keys found).
    """

    name = "npz"
    options = (
        Option("path", (str,), required=True, doc="the .npz file"),
        Option("x_key", (str,), default="x", doc="array name of the inputs"),
        Option("y_key", (str,), default="y", doc="array name of the targets"),
        Option("test_path", (str,), doc="a second .npz file used as the test set"),
        Option("task", (str,), default="classification", choices=TASKS),
    )

    def has_test_set(self) -> bool:
        """True when `test_path` is given."""
        return self.config["test_path"] is not None

    def load(self, seed: int) -> SourceData:
        """Read the file(s); `seed` is unused."""
        cfg = self.config
        x, y = self._read("path", existing_path("path", cfg["path"]))
        x_test = y_test = None
        if cfg["test_path"] is not None:
            x_test, y_test = self._read("test_path", existing_path("test_path", cfg["test_path"]))
        if cfg["task"] == "classification":
            y, y_test, names = encode_labels(y, y_test, "y_key")
        else:
            y = regression_targets(y, "y_key")
            y_test = None if y_test is None else regression_targets(y_test, "y_key")
            names = None
        return SourceData(x=x, y=y, x_test=x_test, y_test=y_test, task=cfg["task"],
                          class_names=names)

    def _read(self, option: str, path: Path) -> tuple[np.ndarray, np.ndarray]:
        try:
            with np.load(path, allow_pickle=False) as archive:
                keys = list(archive.keys())
                arrays = []
                for key_option in ("x_key", "y_key"):
                    key = self.config[key_option]
                    if key not in keys:
                        raise DataError(f"The file {option}={str(path)!r} has no array named "
                                        f"{key!r} (option `{key_option}`). Arrays found: "
                                        f"{', '.join(keys) or 'none'}.")
                    arrays.append(archive[key])
        except (OSError, ValueError, zipfile.BadZipFile) as err:
            if isinstance(err, DataError):
                raise
            raise DataError(f"Cannot read {option}={str(path)!r} as a NumPy .npz file: {err}. "
                            "Write it with numpy.savez(path, x=..., y=...).") from None
        x, y = arrays
        if not np.issubdtype(x.dtype, np.number):
            raise DataError(f"The inputs {self.config['x_key']!r} in {option}={str(path)!r} "
                            f"must be numeric. Received dtype {x.dtype}.")
        if x.ndim < 2:
            raise DataError(f"The inputs {self.config['x_key']!r} in {option}={str(path)!r} "
                            f"must have one row per sample (at least 2-D). "
                            f"Received shape {x.shape}.")
        return x.astype(np.float32), y
