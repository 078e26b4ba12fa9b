"""A table from a delimited text file with a header row (read with the `csv` module)."""

from __future__ import annotations

import csv
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


class CsvFile(DataSource):
    """Numeric feature columns and one target column from a CSV file with a header row.

    The first row names the columns. `features` lists the input columns (all columns
    but the target when not given); every feature value must parse as a number. For
    classification the target column holds class labels of any kind (strings or
    numbers) mapped to indices 0..K-1 in sorted order, kept in `class_names`; with
    `task: regression` it must be numeric. With `test_path`, that file (same columns)
    is the test set; without it, `build_data` carves one off with `test_split`.

    Args:
        options: `path` (required), `target` (required, a column name), `features`
            (list of column names; defaults to all others), `delimiter` (defaults to
            ","), `test_path` (defaults to `None`), `task` (defaults to
            "classification").

    Raises:
        DataError: For a missing file, an unknown column (the message lists the columns
            found), a row of the wrong length, or a value that is not a number.
    """

    name = "csv"
    options = (
        Option("path", (str,), required=True, doc="the CSV file"),
        Option("target", (str,), required=True, doc="the target column"),
        Option("features", (list,), doc="input columns; defaults to all but the target"),
        Option("delimiter", (str,), default=",", doc="field separator"),
        Option("test_path", (str,), doc="a second CSV file used as the test set"),
        Option("task", (str,), default="classification", choices=TASKS),
    )

    def has_test_set(self) -> bool:
        """True when `test_path` is given."""
        return self.config["test_path"] is not None

    def load(self, seed: int) -> SourceData:
        """Read the file(s); `seed` is unused."""
        cfg = self.config
        if len(cfg["delimiter"]) != 1:
            raise DataError(f"Data option `delimiter` must be a single character. "
                            f"Received: delimiter={cfg['delimiter']!r}.")
        x, y = self._read("path", existing_path("path", cfg["path"]))
        x_test = y_test = None
        if cfg["test_path"] is not None:
            x_test, y_test = self._read("test_path", existing_path("test_path", cfg["test_path"]))
        if cfg["task"] == "classification":
            y, y_test, names = encode_labels(_labels(y), None if y_test is None
                                             else _labels(y_test), "target")
        else:
            y = regression_targets(self._numbers(y, "target"), "target")
            y_test = None if y_test is None else regression_targets(
                self._numbers(y_test, "target"), "target")
            names = None
        return SourceData(x=x, y=y, x_test=x_test, y_test=y_test, task=cfg["task"],
                          class_names=names)

    def _read(self, option: str, path: Path) -> tuple[np.ndarray, list[str]]:
        cfg = self.config
        try:
            with open(path, newline="", encoding="utf-8") as handle:
                rows = list(csv.reader(handle, delimiter=cfg["delimiter"]))
        except (OSError, UnicodeDecodeError, csv.Error) as err:
            raise DataError(f"Cannot read {option}={str(path)!r} as CSV: {err}.") from None
        rows = [row for row in rows if row]
        if len(rows) < 2:
            raise DataError(f"The CSV file {option}={str(path)!r} needs a header row and at "
                            f"least one data row; it has {len(rows)} row(s).")
        header = [name.strip() for name in rows[0]]
        found = ", ".join(header)
        if cfg["target"] not in header:
            raise DataError(f"Data option `target` names a column that {option}="
                            f"{str(path)!r} does not have. Received: target={cfg['target']!r}. "
                            f"Columns found: {found}.")
        features = cfg["features"]
        if features is None:
            features = [name for name in header if name != cfg["target"]]
        missing = [name for name in features if name not in header]
        if missing:
            raise DataError(f"Data option `features` names columns that {option}="
                            f"{str(path)!r} does not have: {missing}. Columns found: {found}.")
        if not features or cfg["target"] in features:
            raise DataError(f"Data option `features` must list at least one column and not the "
                            f"target {cfg['target']!r}. Received: features={features!r}.")
        columns = [header.index(name) for name in features]
        target = header.index(cfg["target"])
        x = np.empty((len(rows) - 1, len(columns)), dtype=np.float32)
        y: list[str] = []
        for line, row in enumerate(rows[1:], start=2):
            if len(row) != len(header):
                raise DataError(f"Row {line} of {option}={str(path)!r} has {len(row)} fields; "
                                f"the header has {len(header)}. Check `delimiter` "
                                f"(received {cfg['delimiter']!r}).")
            for j, column in enumerate(columns):
                x[line - 2, j] = self._number(row[column], header[column], line, option, path)
            y.append(row[target].strip())
        return x, y

    @staticmethod
    def _number(text: str, column: str, line: int, option: str, path: Path) -> float:
        try:
            value = float(text)
        except ValueError:
            raise DataError(f"Column {column!r}, row {line} of {option}={str(path)!r} holds "
                            f"{text!r}, which is not a number; feature columns must be numeric "
                            "(leave text columns out with `features`).") from None
        if not np.isfinite(value):
            raise DataError(f"Column {column!r}, row {line} of {option}={str(path)!r} holds "
                            f"{text!r}; feature values must be finite numbers.")
        return value

    def _numbers(self, values: list[str], option: str) -> np.ndarray:
        try:
            return np.asarray([float(v) for v in values], dtype=np.float32)
        except ValueError:
            bad = next(v for v in values if not _is_float(v))
            raise DataError(f"With `task: regression` the target column "
                            f"{self.config['target']!r} must be numeric; it holds {bad!r}."
                            ) from None


def _labels(values: list[str]) -> np.ndarray:
    """Class labels as integers when every label is one (so 2 sorts before 10), else strings."""
    try:
        return np.asarray([int(v) for v in values], dtype=np.int64)
    except ValueError:
        return np.asarray(values)


def _is_float(text: str) -> bool:
    try:
        float(text)
    except ValueError:
        return False
    return True
