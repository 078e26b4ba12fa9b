"""Checks of a source's arrays shared by the loaders and the precheck: finite inputs, task, classes."""

from __future__ import annotations

from typing import Any

import numpy as np

from kerasopt.data.data_problem import DataProblem
from kerasopt.data.errors import DataError
from kerasopt.data.task_inference import TASKS, infer_task


def check_inputs(x: np.ndarray, *, key: str, where: str) -> list[DataProblem]:
    """A problem when the inputs hold NaN or infinite values (after the cast to float32).

    Args:
        x: The inputs, one sample per row, as the model will get them (float32).
        key: The data option to blame (`"features"`, `"x_key"`, `"test_path"`).
        where: The file, for the message (e.g. `"path='train.npz'"`).

    Returns:
        One problem naming the count and the first sample and feature, or none.
    """
    flat = np.asarray(x).reshape(len(x), -1)
    bad = ~np.isfinite(flat)
    if not bad.any():
        return []
    row, column = (int(i) for i in np.argwhere(bad)[0])
    value = float(flat[row, column])
    return [DataProblem(key, f"The inputs of {where} hold {int(bad.sum())} NaN or infinite "
                        f"value(s) (or numbers too large for float32); the first is sample "
                        f"{row}, feature {column}: {value}. Fill or remove them before training.",
                        value)]


def check_targets(y: np.ndarray, *, task: str, key: str, class_weight: Any = None,
                  loss: Any = None, output_activation: str = "auto",
                  complete: bool = True,
                  output_units: int | None = None) -> tuple[str | None, list[DataProblem]]:
    """Decide the task of a source's training targets and find what is wrong with them.

    This is the one place where a file source's task is decided: `task` as written in
    the recipe ("classification" or "regression"), or, for "auto", the task the
    targets imply (`kerasopt.data.task_inference.infer_task`). Problems found: NaN or
    infinite targets; ambiguous targets under "auto" (key `task`); non-whole numbers
    declared as classes; text declared as regression targets; fewer than two classes;
    `class_weight` keys that are not class indices (section `training`); a loss or
    output activation whose output layer cannot fit the data (`head_problems`).

    Args:
        y: The raw training targets (labels before encoding).
        task: "auto", "classification" or "regression".
        key: The data option that names the targets (`"target"`, `"y_key"`), for problems.
        class_weight: The training option `class_weight` (a dict of class index to
            weight, "balanced" or `None`). Defaults to `None`.
        loss: The training loss (a name or `{"type": ...}`), or `None`. Defaults to `None`.
        output_activation: The model's output activation. Defaults to `"auto"`.
        complete: Whether `y` holds every target (False for a sample of a large file:
            the class count and class_weight checks are then skipped). Defaults to `True`.
        output_units: The output width of a fixed model (a `.keras` file), checked
            against what the data needs, or `None`. Defaults to `None`.

    Returns:
        The task (`None` when it cannot be decided) and the problems found.
    """
    y = np.asarray(y)
    numeric = y.dtype.kind in "iuf"
    if numeric and not np.all(np.isfinite(y)):
        bad = np.flatnonzero(~np.isfinite(y.reshape(len(y), -1)).all(axis=1))
        first = y.reshape(len(y), -1)[bad[0]].tolist()
        return None, [DataProblem(key, f"The targets named by `{key}` hold {len(bad)} NaN or "
                                  f"infinite value(s); the first is sample {int(bad[0])} "
                                  f"({first}). Remove or fill those rows.", first)]
    inference = infer_task(y)
    if task == "auto":
        if inference.task is None:
            return None, [DataProblem(
                "task", f"The targets named by `{key}` are {inference.reason}: they could be "
                "class labels or a quantity. Set `task: regression` to predict the number, or "
                "`task: classification` to treat each value as a class.", task, list(TASKS))]
        task = inference.task
    elif task == "classification" and numeric and np.any(y != np.round(y)):
        return None, [DataProblem(
            "task", f"The targets named by `{key}` are not whole numbers ({inference.reason}), "
            "so they cannot be class labels; set `task: regression` (or `task: auto`) for a "
            "regression target.", task, ["regression", "auto"], ["regression"])]
    elif task == "regression" and not numeric and y.dtype.kind != "b":
        example = next(v for v in y.ravel().tolist() if not _is_number(v))
        return None, [DataProblem(key, f"With `task: regression` the targets named by `{key}` "
                                  f"must be numbers; they hold {example!r}.", example)]
    if task == "classification" and y.ndim > 1 and int(np.prod(y.shape[1:])) > 1:
        return None, [DataProblem(key, f"Class labels named by `{key}` must be one label per "
                                  f"sample; they have shape {y.shape}. Set `task: regression` "
                                  "for several target values per sample.", list(y.shape))]
    if task == "regression" and y.ndim > 2:
        return None, [DataProblem(key, f"Regression targets named by `{key}` must be one value "
                                  f"or one vector per sample; they have shape {y.shape}.",
                                  list(y.shape))]
    if not complete:
        return task, []
    names = class_names(y) if task == "classification" else None
    problems = []
    if names is not None and len(names) < 2:
        problems.append(DataProblem(
            key, f"The targets named by `{key}` hold a single class ({names[0]!r}); "
                 "classification needs at least 2 classes. Check the file or the column.",
            names[0], None))
    problems += class_weight_problems(class_weight, names)
    problems += head_problems(task, names, tuple(y.shape[1:]), loss, output_activation, output_units)
    return task, problems


def head_problems(task: str, names: list[str] | None, target_shape: tuple[int, ...],
                  loss: Any, output_activation: str,
                  output_units: int | None = None) -> list[DataProblem]:
    """The problem, if any, with the output layer that `loss` and `output_activation` imply.

    Args:
        task: "classification" or "regression".
        names: The class names, or `None` for regression.
        target_shape: The shape of one regression target.
        loss: The training loss, or `None`.
        output_activation: The model's output activation.
        output_units: The output width of a fixed model (`model.path`, a `.keras` file
            used without `replace_head`), or `None`. Defaults to `None`.

    Returns:
        The problem raised by `kerasopt.data.output_spec.output_spec`, or the fixed
        model's width that differs from the one the data needs (key `model.path`), or none.
    """
    from kerasopt.data.output_spec import output_spec

    try:
        spec = output_spec(task, None if names is None else len(names), loss=loss,
                           target_shape=target_shape if task == "regression" else (),
                           output_activation=output_activation)
    except DataError as err:
        return [err.problem]
    if output_units is not None and output_units != spec.units:
        needs = f"{len(names)} classes" if names is not None else f"a {task} target"
        return [DataProblem(
            "path", f"The model file has {output_units} output units, but the data ({needs}"
            f"{'' if loss is None else ', with this loss'}) needs {spec.units}; set `model.replace_head: true` to put a new "
            f"{spec.units}-unit head on it, or give a model made for this data.", output_units,
            f"a model with {spec.units} output units", section="model")]
    return []


def class_names(y: np.ndarray) -> list[str]:
    """The class names of raw labels, in class-index order (sorted, numbers as numbers)."""
    y = np.asarray(y).reshape(len(y))
    if y.dtype.kind == "f":
        y = y.astype(np.int64)
    return [str(c) for c in np.unique(y).tolist()]


def class_weight_problems(class_weight: Any, names: list[str] | None) -> list[DataProblem]:
    """Problems with `training.class_weight` for data with these class names (None: regression).

    Keys are class indices `0..K-1`, the positions of the labels in sorted order. A
    key outside that range is reported; when it equals one of the original labels
    (integer labels such as 1, 2, 3), the suggestion is that label's index.

    Args:
        class_weight: A dict from class index to weight, "balanced", or `None`.
        names: The class names in index order, or `None` for regression.

    Returns:
        The problems, with `section="training"` and `key="class_weight"`.
    """
    if class_weight is None:
        return []
    if names is None:
        return [DataProblem("class_weight", "`class_weight` applies to classification only; "
                            "this data is a regression target. Remove `class_weight`.",
                            class_weight, None, section="training")]
    if not isinstance(class_weight, dict):
        return []
    unknown = [k for k in class_weight if not (isinstance(k, int) and 0 <= k < len(names))]
    if not unknown:
        return []
    listing = ", ".join(f"{i}={name!r}" for i, name in enumerate(names[:20]))
    suggestions = [str(names.index(str(k))) for k in unknown if str(k) in names]
    mapped = [f"label {k!r} is class index {names.index(str(k))}" for k in unknown
              if str(k) in names]
    hint = f" ({'; '.join(mapped)})" if mapped else ""
    return [DataProblem(
        "class_weight", f"`class_weight` has keys that are no class index: {unknown}{hint}. "
        f"Keys are class indices 0..{len(names) - 1} in sorted label order: {listing}.",
        unknown, list(range(len(names))), suggestions, section="training")]


def _is_number(value: Any) -> bool:
    try:
        float(value)
    except (TypeError, ValueError):
        return False
    return True
