"""Seeded, optionally stratified train / validation / test splits."""

from __future__ import annotations

import dataclasses
import math

import numpy as np

from kerasopt.data.errors import DataError
from kerasopt.data.source import SourceData


@dataclasses.dataclass(frozen=True, eq=False)
class Splits:
    """The three splits as arrays; `x_val`/`y_val` are `None` without a validation split."""

    x_train: np.ndarray
    y_train: np.ndarray
    x_val: np.ndarray | None
    y_val: np.ndarray | None
    x_test: np.ndarray
    y_test: np.ndarray


def split_data(data: SourceData, *, validation_split: float = 0.1,
               test_split: float | None = None, stratify: bool = True, seed: int = 0,
               limit: int | None = None) -> Splits:
    """Split a source's arrays into training, validation and test sets.

    In order: the test set is the source's own, or a `test_split` fraction carved off
    all the data (0.2 when `test_split` is None); then `limit` keeps at most that many
    of the remaining training samples (a seeded random subset, so train + validation
    <= limit, the test set untouched); then a `validation_split` fraction of those is
    held out. Every cut uses scikit-learn's `train_test_split` with
    `random_state=seed`, stratified by class for classification when `stratify` is
    True (class proportions then differ by at most one sample between splits).

    Args:
        data: The source's arrays.
        validation_split: Fraction of the training data held out, in [0, 1).
            Defaults to `0.1`.
        test_split: Fraction carved off as the test set, in (0, 1), for sources
            without one; must be None for sources with one. Defaults to `None`.
        stratify: Stratify classification splits by class. Defaults to `True`.
        seed: The random state of every cut. Defaults to `0`.
        limit: Keep at most this many training samples (>= 2). Defaults to `None`.

    Returns:
        The splits.

    Raises:
        DataError: For a fraction out of range, `test_split` given for a source with a
            test set, or a split that cannot be made (e.g. a class with one sample
            under stratification).
    """
    if not 0 <= validation_split < 1:
        raise DataError(f"`validation_split` must be in [0, 1). "
                        f"Received: validation_split={validation_split!r}.")
    if limit is not None and (isinstance(limit, bool) or not isinstance(limit, int) or limit < 2):
        raise DataError(f"`limit` must be an integer >= 2 or None. Received: limit={limit!r}.")
    by_class = stratify and data.task == "classification"
    x, y = data.x, data.y
    if data.x_test is not None:
        if test_split is not None:
            raise DataError(f"`test_split` must be left unset (None): this data source has its "
                            f"own test set. Received: test_split={test_split!r}.")
        x_test, y_test = data.x_test, data.y_test
    else:
        fraction = 0.2 if test_split is None else test_split
        if isinstance(fraction, bool) or not 0 < fraction < 1:
            raise DataError(f"`test_split` must be in (0, 1) for a source without its own test "
                            f"set. Received: test_split={test_split!r}.")
        x, y, x_test, y_test = _cut(x, y, fraction, by_class, seed, "test_split")
    if limit is not None and limit < len(x):
        x, y, _, _ = _cut(x, y, len(x) - limit, by_class, seed, "limit")
    x_val = y_val = None
    if validation_split > 0:
        x, y, x_val, y_val = _cut(x, y, validation_split, by_class, seed, "validation_split")
    return Splits(x, y, x_val, y_val, x_test, y_test)


def _cut(x: np.ndarray, y: np.ndarray, size: float | int, by_class: bool, seed: int,
         option: str) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Hold out `size` samples (a fraction or a count); return kept x, y, held-out x, y."""
    from sklearn.model_selection import train_test_split

    n = len(x)
    held = math.ceil(size * n) if isinstance(size, float) else size
    if held < 1 or held >= n:
        raise DataError(f"`{option}` leaves no samples on one side: {n} samples, {held} held "
                        f"out. Adjust `{option}`.")
    if by_class:
        classes, counts = np.unique(y, return_counts=True)
        problem = None
        if counts.min() < 2:
            problem = (f"class {classes[counts.argmin()]} has {counts.min()} sample(s) (needs "
                       f"at least 2)")
        elif min(held, n - held) < len(classes):
            problem = (f"each side needs at least one sample of each of the {len(classes)} "
                       f"classes, but one side gets {min(held, n - held)} samples")
        if problem is not None:
            raise DataError(f"Cannot make the stratified split `{option}` of {n} samples: "
                            f"{problem}. Use more data, change `{option}`, or set "
                            "`stratify: false`.")
    x_keep, x_held, y_keep, y_held = train_test_split(
        x, y, test_size=held, random_state=seed, shuffle=True,
        stratify=y if by_class else None)
    return x_keep, y_keep, x_held, y_held
