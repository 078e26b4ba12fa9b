"""The base class of data sources and the arrays a source hands to `build_data`."""

from __future__ import annotations

import abc
import dataclasses
import itertools
import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any, ClassVar

import numpy as np

from kerasopt.data.data_problem import DataProblem
from kerasopt.data.errors import DataError
from kerasopt.data.options import Option, resolve_options
from kerasopt.data.task_inference import TASKS as TASKS
from kerasopt.suggestions import did_you_mean


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
        mask_value: The value of padded sequence steps the model should mask
            (`keras.layers.Masking`), or `None` for data without masked padding.
            Defaults to `None`.
    """

    x: np.ndarray
    y: np.ndarray
    task: str
    class_names: list[str] | None
    x_test: np.ndarray | None = None
    y_test: np.ndarray | None = None
    mask_value: float | None = None

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

    @classmethod
    def options_with_task(cls, options: Mapping[str, Any], task: str | None) -> dict[str, Any]:
        """`options` with `task` filled in when this source infers it and it is left on "auto".

        Args:
            options: The source's options as given.
            task: "classification" or "regression" (known from elsewhere, e.g. the
                loss), or `None`.

        Returns:
            A copy of `options`; with `task` set when the source has a `task` option
            whose default is "auto" and the options leave it on "auto".
        """
        options = dict(options)
        declared = {option.name: option for option in cls.options}
        if (task is not None and "task" in declared and declared["task"].default == "auto"
                and options.get("task") in (None, "auto")):
            options["task"] = task
        return options

    @abc.abstractmethod
    def load(self, seed: int) -> SourceData:
        """Load (or generate, deterministically from `seed`) the source's arrays."""

    def check(self, class_weight: Any = None, loss: Any = None, output_activation: str = "auto",
              output_units: int | None = None) -> list[DataProblem]:
        """Find problems in the source's files quickly, without TensorFlow or Keras.

        Sources that read local files override this (paths, columns, keys, NaN, classes,
        `class_weight` keys); built-in and online sources have nothing to check before
        loading, so the default finds nothing. `load` raises the same problems as
        DataError, so a problem found here never surfaces later in another form.

        Args:
            class_weight: The training option `class_weight`, checked against the
                classes found. Defaults to `None`.
            loss: The training loss, checked against the task and classes found
                (`kerasopt.data.output_spec.output_spec`). Defaults to `None`.
            output_activation: The model's output activation, checked likewise.
                Defaults to `"auto"`.
            output_units: The output width of a fixed model (a `.keras` file), checked
                against what the data needs. Defaults to `None`.

        Returns:
            The problems found, each naming its option.
        """
        known = self.known_classes()
        if output_units is None or known is None:
            return []
        from kerasopt.data.array_checks import head_problems

        names = [str(i) for i in range(known)] if known else None
        return head_problems("classification" if known else "regression", names, (), loss,
                             output_activation, output_units)

    def known_classes(self) -> int | None:
        """The class count of a source that knows it without reading data (0: a one-value
        regression target), or None when only the data can tell. Defaults to None."""
        return None


def path_problem(option: str, value: str, *, directory: bool = False) -> DataProblem | None:
    """The problem with `value` as a readable file (or directory), or None if there is none."""
    path = Path(value).expanduser()
    kind = "directory" if directory else "file"
    try:
        found = path.exists()
    except OSError as err:  # a name too long, a symlink loop
        return DataProblem(option, f"`{option}` cannot be looked up ({err.strerror}). "
                           f"Received: {option}={value!r}.", value)
    if not found:
        parent = path.parent if path.parent.is_dir() else None
        nearby = [p.name for p in itertools.islice(parent.iterdir(), 5000)] if parent else []
        close = [str(parent / name) for name in did_you_mean(path.name, nearby)] if parent else []
        return DataProblem(option, f"The {kind} given as `{option}` does not exist. "
                           f"Received: {option}={value!r}.", value, None, close)
    if directory != path.is_dir():
        return DataProblem(option, f"`{option}` must be a {kind}. Received: {option}={value!r}.",
                           value)
    if not directory and not path.is_file():  # a device, pipe or socket never ends or blocks
        return DataProblem(option, f"`{option}` must be a regular file, not a device, pipe or "
                           f"socket. Received: {option}={value!r}.", value)
    if not os.access(path, os.R_OK | (os.X_OK if directory else 0)):
        return DataProblem(option, f"The {kind} given as `{option}` is not readable (check its "
                           f"permissions). Received: {option}={value!r}.", value)
    return None


def existing_path(option: str, value: str, *, directory: bool = False) -> Path:
    """Return `value` as a Path, or raise DataError naming `option` if it cannot be read."""
    problem = path_problem(option, value, directory=directory)
    if problem is not None:
        raise problem.error()
    return Path(value).expanduser()


def encode_labels(y: np.ndarray, y_test: np.ndarray | None, option: str,
                  test_option: str = "test_path") -> tuple[np.ndarray, np.ndarray | None, list[str]]:
    """Map class labels (ints or strings) to indices 0..K-1 in sorted label order.

    Args:
        y: Training labels.
        y_test: Test labels, or `None`; every test label must occur in `y`.
        option: The option that named the labels, for messages.
        test_option: The option that named the test set. Defaults to `"test_path"`.

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
            raise DataProblem(test_option, f"The test labels from `{option}` include classes "
                              f"the training data does not have: {unknown.tolist()[:10]}. "
                              f"Training classes: {classes.tolist()[:20]}.",
                              unknown.tolist()[:10], classes.tolist()).error()
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
