"""`CsvTable`: the header and columns of a CSV file, read fast and checked with clear messages."""

from __future__ import annotations

import csv
import warnings
from pathlib import Path
from typing import Any

import numpy as np

from kerasopt.data.data_problem import DataProblem
from kerasopt.suggestions import did_you_mean

SNIFF_BYTES = 64 * 2**10
"""The bytes read first to tell a binary file (NUL bytes) from CSV text."""

MAX_LINE_CHARS = 2**20
"""The longest header line read; a longer first line means the file is no CSV table."""


class CsvTable:
    """A delimited text file with a header row, read once for a source or a precheck.

    The header is read with the `csv` module when the table is made. `read` loads the
    feature columns as float64 and the target column as text with `numpy.loadtxt`
    (its C parser reads 15 to 40 MB per second here, several times the speed of
    converting cell by cell; one pass when the target is numeric), with `"` as the quote character, no comment character
    and blank lines skipped. When `loadtxt` rejects the file, the rows are scanned
    once more with the `csv` module to name the first bad row and column.

    Args:
        path: The CSV file (it must exist).
        delimiter: The field separator, one character.
        option: The data option that named the file (`"path"`, `"test_path"`), for messages.

    Raises:
        DataError: If the file cannot be read as text or has no header row.

    Example:
        >>> import pathlib, tempfile
        >>> file = pathlib.Path(tempfile.mkdtemp()) / "t.csv"
        >>> _ = file.write_text("a,b,label\\n1,2,x\\n3,4,y\\n")
        >>> x, y = CsvTable(file, delimiter=",", option="path").read("label", ["a", "b"])
        >>> x.tolist(), y.tolist()
        ([[1.0, 2.0], [3.0, 4.0]], ['x', 'y'])
    """

    def __init__(self, path: Path, *, delimiter: str, option: str) -> None:
        self.path = Path(path)
        self.delimiter = delimiter
        self.option = option
        try:
            with open(self.path, "rb") as handle:
                head = handle.read(SNIFF_BYTES)
            if b"\x00" in head:
                raise self._binary(head.index(b"\x00"))
            # utf-8-sig: spreadsheets save CSV with a byte-order mark, which is no part of a name.
            with open(self.path, newline="", encoding="utf-8-sig") as handle:
                header = None
                while header is None:  # skip blank lines, never reading more than a line's limit
                    line = handle.readline(MAX_LINE_CHARS + 1)
                    if len(line) > MAX_LINE_CHARS:
                        raise DataProblem(option, f"The first line of {option}={str(path)!r} is longer "
                                          f"than {MAX_LINE_CHARS:,} characters; a CSV file starts with "
                                          "a header row naming its columns.", str(path)).error()
                    if not line:
                        break
                    header = next(csv.reader([line], delimiter=delimiter), None) or None
        except (OSError, UnicodeDecodeError, csv.Error) as err:
            raise DataProblem(option, f"Cannot read {option}={str(path)!r} as CSV: {err}.",
                              str(path)).error() from None
        if header is None:
            raise DataProblem(option, f"The CSV file {option}={str(path)!r} is empty; it needs "
                              "a header row and at least one data row.", str(path)).error()
        self.header = [name.strip() for name in header]

    def _binary(self, offset: int) -> Exception:
        return DataProblem(self.option, f"{self.option}={str(self.path)!r} is a binary file, not CSV "
                           f"text: it holds a NUL byte at byte {offset:,}. Give a comma-separated text "
                           "file (UTF-8) with a header row; a UTF-16 file must be saved as UTF-8 first.",
                           str(self.path), "a CSV text file").error()

    def column_problems(self, target: str, features: list[str] | None) -> list[DataProblem]:
        """Problems with the `target` and `features` options against this file's header."""
        where = f"{self.option}={str(self.path)!r}"
        found = ", ".join(self.header)
        problems = []
        used = set(self.header) if features is None else {target, *features}
        repeated = sorted({name for name in self.header if self.header.count(name) > 1} & used)
        if repeated:  # a column read by name would silently be the first of its namesakes
            return [DataProblem(self.option, f"The header of {where} names {len(repeated)} column(s) "
                                f"more than once: {repeated}. Give every column its own name.",
                                repeated, "distinct column names")]
        if target not in self.header:
            guess = "" if len(self.header) > 1 else (
                f" The header is a single column; is the delimiter {self.delimiter!r} right?")
            problems.append(DataProblem(
                "target", f"Data option `target` names a column that {where} does not have. "
                f"Received: target={target!r}. Columns found: {found}.{guess}", target,
                list(self.header), did_you_mean(target, self.header)))
        if features is not None:
            missing = [name for name in features if name not in self.header]
            if missing:
                suggestions = [m for name in missing for m in did_you_mean(name, self.header)[:1]]
                problems.append(DataProblem(
                    "features", f"Data option `features` names columns that {where} does not "
                    f"have: {missing}. Columns found: {found}.", missing, list(self.header),
                    suggestions))
            elif not features or target in features:
                problems.append(DataProblem(
                    "features", f"Data option `features` must list at least one column and not "
                    f"the target {target!r}. Received: features={features!r}.", features,
                    [c for c in self.header if c != target]))
        elif len(self.header) < 2 and target in self.header:
            problems.append(DataProblem(
                "features", f"{where} has no column besides the target {target!r}; a model "
                "needs at least one feature column.", None, None))
        return problems

    def feature_names(self, target: str, features: list[str] | None) -> list[str]:
        """The feature columns: `features`, or every column but the target."""
        return list(features) if features is not None else [c for c in self.header if c != target]

    def read(self, target: str, features: list[str] | None,
             max_rows: int | None = None) -> tuple[np.ndarray, np.ndarray]:
        """Read the feature columns (float64) and the target column (stripped text).

        Args:
            target: The target column, which must be in the header.
            features: The feature columns, or `None` for all but the target.
            max_rows: Read at most this many data rows. Defaults to `None` (all).

        Returns:
            The features `(rows, columns)` (NaN and inf kept; the caller checks them)
            and the target values: float64 when all are numbers, else text.

        Raises:
            DataError: For a row with too few fields, a feature value that is not a
                number, an empty target value or a file without data rows; the message
                names the row (file line) and the column.
        """
        names = self.feature_names(target, features)
        columns = [self.header.index(name) for name in names]
        target_column = self.header.index(target)
        try:
            try:  # one pass when the target is numeric too (the common case)
                both = self._loadtxt([*columns, target_column], np.float64, max_rows)
                x, y = both[..., :-1].reshape(-1, len(columns)), both[..., -1].reshape(-1)
            except ValueError:
                x = self._loadtxt(columns, np.float64, max_rows).reshape(-1, len(columns))
                y = np.char.strip(self._loadtxt([target_column], str, max_rows).ravel())
        except ValueError:
            self._diagnose(columns, target)
            raise  # only when the csv module accepts what loadtxt refused
        if len(y) == 0:
            raise DataProblem(self.option, f"The CSV file {self.option}={str(self.path)!r} has "
                              "a header row but no data rows.", str(self.path)).error()
        empty = np.flatnonzero(y == "") if y.dtype.kind == "U" else np.array([], dtype=int)
        if empty.size:
            raise DataProblem("target", f"The target column {target!r} of {self.option}="
                              f"{str(self.path)!r} is empty in {empty.size} data row(s), the first "
                              f"being data row {int(empty[0]) + 1}. Fill or remove those rows.",
                              "").error()
        return x, y

    def _loadtxt(self, columns: list[int], dtype: type, max_rows: int | None) -> np.ndarray:
        with warnings.catch_warnings():
            # loadtxt warns that blank lines do not count towards max_rows; skipping them is wanted.
            warnings.filterwarnings("ignore", message="Input line", category=UserWarning)
            # A header without data rows is reported by `read`, in the recipe's words.
            warnings.filterwarnings("ignore", message="loadtxt: input contained no data",
                                    category=UserWarning)
            return np.loadtxt(self.path, delimiter=self.delimiter, skiprows=1, usecols=columns,
                              dtype=dtype, comments=None, quotechar='"', encoding="utf-8",
                              ndmin=1, max_rows=max_rows)

    def _diagnose(self, columns: list[int], target: str) -> None:
        where = f"{self.option}={str(self.path)!r}"
        needed = max([*columns, self.header.index(target)]) + 1
        self._find_nul()
        with open(self.path, newline="", encoding="utf-8") as handle:
            rows = csv.reader(handle, delimiter=self.delimiter)
            try:
                self._diagnose_rows(rows, columns, needed, where)
            except (csv.Error, UnicodeDecodeError) as err:
                raise DataProblem(self.option, f"Row {rows.line_num + 1} of {where} cannot be read as "
                                  f"UTF-8 CSV text: {err}.", str(self.path)).error() from None

    def _find_nul(self) -> None:
        """Raise the binary-file problem if the file holds a NUL byte anywhere."""
        offset = 0
        with open(self.path, "rb") as handle:
            while chunk := handle.read(2**22):
                if b"\x00" in chunk:
                    raise self._binary(offset + chunk.index(b"\x00"))
                offset += len(chunk)

    def _diagnose_rows(self, rows: Any, columns: list[int], needed: int, where: str) -> None:
        next(rows, None)
        for row in rows:
            if not row:
                continue
            line = rows.line_num
            if len(row) < needed:
                raise DataProblem(
                    self.option, f"Row {line} of {where} has {len(row)} fields; the header "
                    f"has {len(self.header)}. Check `delimiter` (received "
                    f"{self.delimiter!r}).", len(row)).error()
            for column in columns:
                text = row[column]
                try:
                    float(text)
                except ValueError:
                    raise DataProblem(
                        "features", f"Column {self.header[column]!r}, row {line} of {where} "
                        f"holds {text!r}, which is not a number; feature columns must be "
                        "numeric (leave text columns out with `features`).", text,
                        None).error() from None


def parse_labels(values: np.ndarray) -> np.ndarray:
    """Targets as int64 when every value is a whole number, else float64, else text."""
    if values.dtype.kind == "f":
        whole = np.all(np.isfinite(values)) and np.all(values == np.round(values))
        return values.astype(np.int64) if whole and np.all(np.abs(values) < 2**62) else values
    for dtype in (np.int64, np.float64):
        try:
            return values.astype(dtype)
        except (ValueError, OverflowError):
            continue
    return values
