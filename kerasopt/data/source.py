"""The base class of data sources and the arrays a source hands to `build_data`."""

from __future__ import annotations

import abc
import dataclasses
from collections.abc import Mapping
from pathlib import Path
from typing import Any, ClassVar

import numpy as np

from kerasopt.data.errors import DataError
from kerasopt.data.options import Option, resolve_options

TASKS = ("classification", "regression")


@dataclasses.dataclass(frozen=True, eq=False)
class SourceData:
    """The raw arrays of a source, before any split.

    Args:
        x: Training inputs, one sample per row.
        y: Training targets: class indices (int) for classification, floats for regression.
        task: `"classification"` or `"regression"`.
        class_names: The name of each class index, or `None` for regression.
        x_test: The source's own test inputs, or `None` when it has no test set.
            Defaults to `None`.
        y_test: The source's own test targets. Defaults to `None`.
    """

    x: np.ndarray
    y: np.ndarray
    task: str
    class_names: list[str] | None
    x_test: np.ndarray | None = None
    y_test: np.ndarray | None = None

    def __post_init__(self) -> None:
        for x, y, label in ((self.x, self.y, "training"), (self.x_test, self.y_test, "test")):
            if x is None:
                continue
            if len(x) != len(y):
                raise DataError(f"The {label} inputs and targets have different lengths: "
                                f"{len(x)} inputs, {len(y)} targets.")
            if len(x) == 0:
                raise DataError(f"The {label} data is empty.")
        if self.x_test is not None and self.x_test.shape[1:] != self.x.shape[1:]:
            raise DataError(f"The test inputs have shape {self.x_test.shape[1:]} per sample, "
                            f"the training inputs {self.x.shape[1:]}; they must match.")

    @property
    def num_classes(self) -> int | None:
        """The number of classes, or `None` for regression."""
        return None if self.class_names is None else len(self.class_names)


class DataSource(abc.ABC):
    """A named data source with declared options that loads arrays.

    Subclasses set `name`, `options` and `has_test_set`, and implement `load`. Their
    modules import only NumPy at import time (TensorFlow, scikit-learn and the rest
    are imported inside `load`), so the option table stays cheap to read.

    Args:
        options: The source's options as written in a recipe; checked against
            `options` (unknown names, types, required options) and completed with
            defaults.

    Raises:
        DataError: If an option is unknown, missing, of the wrong type or not allowed.
    """

    name: ClassVar[str]
    options: ClassVar[tuple[Option, ...]] = ()

    def __init__(self, options: Mapping[str, Any]) -> None:
        self.config = resolve_options(self.name, self.options, options)

    def has_test_set(self) -> bool:
        """Whether the source brings its own test split (then `test_split` must be None)."""
        return False

    @abc.abstractmethod
    def load(self, seed: int) -> SourceData:
        """Load (or generate, deterministically from `seed`) the source's arrays."""


def existing_path(option: str, value: str, *, directory: bool = False) -> Path:
    """Return `value` as a Path, or raise DataError naming `option` if it does not exist."""
    path = Path(value).expanduser()
    kind = "directory" if directory else "file"
    if not path.exists():
        raise DataError(f"The {kind} given as `{option}` does not exist. "
                        f"Received: {option}={value!r}.")
    if directory != path.is_dir():
        raise DataError(f"`{option}` must be a {kind}. Received: {option}={value!r}.")
    return path


def encode_labels(y: np.ndarray, y_test: np.ndarray | None, option: str,
                  ) -> tuple[np.ndarray, np.ndarray | None, list[str]]:
    """Map class labels (ints or strings) to indices 0..K-1 in sorted label order.

    Args:
        y: Training labels.
        y_test: Test labels, or `None`; every test label must occur in `y`.
        option: The option that named the labels, for messages.

    Returns:
        The encoded training labels, the encoded test labels and the class names.

    Raises:
        DataError: For non-integer numeric labels (a regression target?) or test
            labels that the training data does not have.
    """
    y = np.asarray(y)
    if y.ndim != 1:
        raise DataError(f"Classification labels from `{option}` must be one label per sample "
                        f"(a 1-D array). Received shape {y.shape}.")
    if np.issubdtype(y.dtype, np.floating):
        if not np.all(np.isfinite(y)) or not np.all(y == np.round(y)):
            raise DataError(f"The labels from `{option}` are not whole numbers, so they cannot "
                            "be class labels; set the option `task: regression` for a "
                            "regression target.")
        y = y.astype(np.int64)
    classes = np.unique(y)
    encoded = np.searchsorted(classes, y).astype(np.int32)
    encoded_test = None
    if y_test is not None:
        y_test = np.asarray(y_test)
        if np.issubdtype(y_test.dtype, np.floating):
            y_test = y_test.astype(np.int64)
        unknown = np.setdiff1d(np.unique(y_test), classes)
        if unknown.size:
            raise DataError(f"The test labels from `{option}` include classes the training "
                            f"data does not have: {unknown.tolist()[:10]}. Training classes: "
                            f"{classes.tolist()[:20]}.")
        encoded_test = np.searchsorted(classes, y_test).astype(np.int32)
    return encoded, encoded_test, [str(c) for c in classes.tolist()]


def regression_targets(y: np.ndarray, option: str) -> np.ndarray:
    """Return regression targets as float32, or raise DataError if they are not numeric."""
    try:
        values = np.asarray(y, dtype=np.float32)
    except ValueError as err:
        raise DataError(f"The regression targets from `{option}` must be numbers: {err}.") from None
    if not np.all(np.isfinite(values)):
        raise DataError(f"The regression targets from `{option}` contain NaN or infinite values.")
    return values
