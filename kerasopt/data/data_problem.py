"""`DataProblem`: one thing wrong with a data source, found before TensorFlow starts."""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from typing import Any

from kerasopt.data.errors import DataError


@dataclasses.dataclass(frozen=True)
class DataProblem:
    """One problem with the data a recipe names, in a form a recipe validator can report.

    `key` is the option's path inside its recipe section (`section`, which is
    `"data"` for everything except the training options that depend on the data,
    such as `class_weight` and `loss`), so a validator can point at the line of the
    YAML key: `key="target"` means `data.target`, `key="path"` means `data.path`.

    Args:
        key: The option at fault, relative to `section`, e.g. `"target"` or `"x_key"`.
        message: What is wrong, in one or two sentences naming the option and value.
        received: The value received (the option's value or the offending data value).
        allowed: What would be accepted (column names, keys, classes), or `None`.
            Defaults to `None`.
        suggestions: Close matches of `received` among `allowed` (did-you-mean).
            Defaults to `[]`.
        section: The recipe section `key` belongs to. Defaults to `"data"`.

    Example:
        >>> p = DataProblem("target", "No column 'lable'.", "lable", ["a", "label"], ["label"])
        >>> p.path, p.suggestions
        ('data.target', ['label'])
    """

    key: str
    message: str
    received: Any
    allowed: Any = None
    suggestions: list[str] = dataclasses.field(default_factory=list)
    section: str = "data"

    @property
    def path(self) -> str:
        """The full dotted key path, e.g. `"data.target"` or `"training.class_weight"`."""
        return f"{self.section}.{self.key}" if self.key else self.section

    def error(self) -> DataError:
        """This problem as the `DataError` that `build_data` raises for it."""
        hint = f" Did you mean {', '.join(repr(s) for s in self.suggestions)}?" \
            if self.suggestions and "Did you mean" not in self.message else ""
        return DataError(self.message + hint, problem=self)


def raise_first(problems: Sequence[DataProblem]) -> None:
    """Raise the first problem as a DataError (for loaders); do nothing if there is none."""
    if problems:
        raise problems[0].error()
