"""`infer_task`: classification or regression, read off the targets when the data is unambiguous."""

from __future__ import annotations

import dataclasses

import numpy as np

TASKS = ("classification", "regression")
"""The tasks a data bundle can have."""

TASK_CHOICES = ("auto", *TASKS)
"""The values of the `task` option of file sources; "auto" infers the task from the targets."""

ALWAYS_CLASSES = 10
"""Whole-number targets with at most this many distinct values are class labels."""

MAX_CLASSES = 50
"""Whole-number targets with more distinct values than this are never taken for class labels."""

MAX_CLASS_FRACTION = 0.1
"""Above `ALWAYS_CLASSES`, distinct values may be at most this fraction of the samples."""


@dataclasses.dataclass(frozen=True)
class TaskInference:
    """What the targets say about the task, and why.

    The rules, applied to the training targets in order:

    1. text or boolean labels: classification;
    2. several values per sample (`y` of shape `(n, k)`, `k > 1`): regression;
    3. NaN or infinite values: undecided (the values themselves are the problem);
    4. any number with a fractional part: regression;
    5. whole numbers with `d` distinct values over `n` samples: classification when
       `d <= 10`, or when `d <= 50` and `d <= 0.1 n` (several samples per class on
       average); otherwise undecided. Whole numbers with many distinct values are as
       likely counts or prices (regression) as class ids, so the user must say which
       with `task:`; `load_diabetes`'s target (214 distinct whole numbers over 442
       samples) is such a case.

    Args:
        task: "classification", "regression", or `None` when the targets do not decide.
        reason: One sentence describing the targets, for messages.
        distinct: The number of distinct target values (`None` for several values per
            sample or non-finite values). Defaults to `None`.

    Example:
        >>> infer_task(np.array([0.5, 1.25, 3.0])).task
        'regression'
        >>> infer_task(np.array([1, 2, 1, 2])).task
        'classification'
        >>> print(infer_task(np.arange(100)).task)
        None
    """

    task: str | None
    reason: str
    distinct: int | None = None


def infer_task(y: np.ndarray) -> TaskInference:
    """Infer the task from training targets (see `TaskInference` for the rules).

    Args:
        y: The targets, one per sample: any shape `(n, ...)`, numbers, booleans or text.

    Returns:
        The inference, with `task=None` when the targets are ambiguous or not finite.
    """
    y = np.asarray(y)
    n = len(y)
    if y.dtype.kind in "USOb":
        distinct = len(np.unique(y.astype(str) if y.dtype.kind == "O" else y))
        return TaskInference("classification", f"{distinct} distinct text or boolean labels",
                             distinct)
    if y.ndim > 1 and int(np.prod(y.shape[1:])) > 1:
        return TaskInference("regression", f"{int(np.prod(y.shape[1:]))} values per sample")
    flat = y.reshape(n).astype(np.float64)
    if not np.all(np.isfinite(flat)):
        return TaskInference(None, f"{int(np.sum(~np.isfinite(flat)))} NaN or infinite values")
    distinct = len(np.unique(flat))
    if np.any(flat != np.round(flat)):
        return TaskInference("regression", f"numbers with a fractional part ({distinct} distinct "
                             f"values over {n} samples)", distinct)
    described = f"{distinct} distinct whole numbers over {n} samples"
    if distinct <= ALWAYS_CLASSES or (distinct <= MAX_CLASSES
                                      and distinct <= MAX_CLASS_FRACTION * n):
        return TaskInference("classification", described, distinct)
    return TaskInference(None, described, distinct)
