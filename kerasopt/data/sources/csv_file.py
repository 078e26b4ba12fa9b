"""A table from a delimited text file with a header row."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from kerasopt.data.array_checks import check_inputs, check_targets
from kerasopt.data.csv_table import CsvTable, parse_labels
from kerasopt.data.data_problem import DataProblem, raise_first
from kerasopt.data.errors import DataError
from kerasopt.data.options import Option
from kerasopt.data.source import (
    DataSource,
    SourceData,
    encode_labels,
    existing_path,
    path_problem,
    regression_targets,
)
from kerasopt.data.task_inference import TASK_CHOICES

PRECHECK_FULL_BYTES = 32 * 2**20
"""`check` reads files up to this size whole (well under a second); larger ones: a sample."""

PRECHECK_SAMPLE_ROWS = 10_000
"""The rows `check` reads from a file larger than `PRECHECK_FULL_BYTES`."""


DEFAULT_MAX_MEGABYTES = 1024
"""The default of `max_megabytes`: a CSV file is parsed into memory whole (NumPy needs
about as much memory again as the file's size), so a larger one is refused before it is
read; raise the option for a machine with the memory, or convert the table to `.npz`."""


class CsvFile(DataSource):
    """Numeric feature columns and one target column from a CSV file with a header row.

    The first row names the columns. `features` lists the input columns (all columns
    but the target when not given); every feature value must parse as a finite number.
    The target column holds class labels of any kind (text or whole numbers, mapped to
    indices 0..K-1 in sorted order and kept in `class_names`) or, for regression,
    numbers. `task: auto` (the default) decides from the target values, see
    `kerasopt.data.task_inference.TaskInference`; set `task` when they are ambiguous.
    With `test_path`, that file (same columns) is the test set; without it,
    `build_data` carves one off with `test_split`.

    Args:
        options: `path` (required), `target` (required, a column name), `features`
            (list of column names; defaults to all others), `delimiter` (defaults to
            ","), `test_path` (defaults to `None`), `task` ("auto", "classification"
            or "regression"; defaults to "auto"), `max_megabytes` (the largest file
            read, checked from its size before reading; defaults to 1024).

    Raises:
        DataError: For a missing file, an unknown column (the message lists the columns
            found), a row with too few fields, a value that is not a finite number, or
            targets whose task is ambiguous.
    """

    name = "csv"
    options = (
        Option("path", (str,), required=True, doc="the CSV file"),
        Option("target", (str,), required=True, doc="the target column"),
        Option("features", (list,), doc="input columns; defaults to all but the target"),
        Option("delimiter", (str,), default=",", doc="field separator"),
        Option("test_path", (str,), doc="a second CSV file used as the test set"),
        Option("task", (str,), default="auto", choices=TASK_CHOICES,
               doc="auto: regression for fractional targets, classification for few classes"),
        Option("max_megabytes", (int,), default=DEFAULT_MAX_MEGABYTES,
               doc="largest CSV file read (it is loaded into memory whole); checked before reading"),
    )

    def has_test_set(self) -> bool:
        """True when `test_path` is given."""
        return self.config["test_path"] is not None

    def check(self, class_weight: Any = None, loss: Any = None, output_activation: str = "auto",
              output_units: int | None = None) -> list[DataProblem]:
        """Check paths, columns, values, task and classes; large files by a sample."""
        try:
            return self._inspect({"class_weight": class_weight, "loss": loss,
                                  "output_activation": output_activation,
                                  "output_units": output_units}, precheck=True)[0]
        except DataError as err:
            if err.problem is None:
                raise
            return [err.problem]

    def load(self, seed: int) -> SourceData:
        """Read the file(s); `seed` is unused."""
        problems, x, y, x_test, y_test, task = self._inspect({}, precheck=False)
        raise_first(problems)
        if task == "classification":
            y, y_test, names = encode_labels(y, y_test, "target")
        else:
            y = regression_targets(y, "target")
            y_test = None if y_test is None else regression_targets(y_test, "target")
            names = None
        return SourceData(x=x, y=y, x_test=x_test, y_test=y_test, task=task, class_names=names)

    def _inspect(self, training: dict[str, Any], precheck: bool) -> tuple[Any, ...]:
        """Problems, then x, raw y, x_test, raw y_test and the task (None if undecided)."""
        cfg = self.config
        if len(cfg["delimiter"]) != 1:
            raise DataProblem("delimiter", "Data option `delimiter` must be a single character. "
                              f"Received: delimiter={cfg['delimiter']!r}.",
                              cfg["delimiter"]).error()
        problems = [p for option in ("path", "test_path") if cfg[option] is not None
                    for p in [path_problem(option, cfg[option])] if p is not None]
        raise_first(problems)
        x, y, complete, inputs = self._read("path", precheck)
        problems += inputs
        x_test = y_test = None
        if cfg["test_path"] is not None:
            x_test, y_test, _, inputs = self._read("test_path", precheck)
            problems += inputs
        task, found = check_targets(y, task=cfg["task"], key="target", complete=complete,
                                    **training)
        problems += found
        if task == "classification" and y_test is not None and complete:
            encode_labels(y, y_test, "target")  # raises for test classes unknown to training
        return problems, x, y, x_test, y_test, task

    def _read(self, option: str, precheck: bool) -> tuple[Any, ...]:
        cfg = self.config
        path = existing_path(option, cfg[option])
        self._check_size(option, path)
        table = CsvTable(path, delimiter=cfg["delimiter"], option=option)
        problems = table.column_problems(cfg["target"], cfg["features"])
        if option == "test_path":
            problems = [DataProblem("test_path", p.message, p.received, p.allowed, p.suggestions)
                        for p in problems]
        raise_first(problems)
        sample = precheck and Path(path).stat().st_size > PRECHECK_FULL_BYTES
        x, y = table.read(cfg["target"], cfg["features"],
                          max_rows=PRECHECK_SAMPLE_ROWS if sample else None)
        with np.errstate(over="ignore"):  # values beyond float32 become inf; check_inputs reports them
            x = x.astype(np.float32)
        key = "features" if option == "path" else option
        inputs = check_inputs(x, key=key, where=f"{option}={cfg[option]!r}")
        return x, parse_labels(y), not sample, inputs

    def _check_size(self, option: str, path: Path) -> None:
        """Refuse a file above `max_megabytes` from its size alone (a sparse 4 GB file costs nothing)."""
        limit = self.config["max_megabytes"]
        if isinstance(limit, bool) or limit < 1:
            raise DataProblem("max_megabytes", "Data option `max_megabytes` must be an integer >= 1. "
                              f"Received: max_megabytes={limit!r}.", limit, "an integer >= 1").error()
        size = path.stat().st_size
        if size > limit * 2**20:
            raise DataProblem(option, f"{option}={str(path)!r} is {size / 2**20:,.0f} MB; CSV files are "
                              f"loaded into memory whole, up to `max_megabytes` ({limit:,} MB). Raise "
                              "`max_megabytes` if the machine has the memory (about twice the file), or "
                              "convert the table to .npz (numpy.savez; read ~10x faster) or sample it.",
                              str(path), f"a file of at most {limit:,} MB").error()
