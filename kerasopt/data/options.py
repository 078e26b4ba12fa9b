"""Declared options of a data source, checked without importing Keras or TensorFlow."""

from __future__ import annotations

import dataclasses
import difflib
from collections.abc import Mapping
from typing import Any

from kerasopt.data.data_problem import DataProblem
from kerasopt.data.errors import DataError
from kerasopt.suggestions import did_you_mean

_TYPE_NAMES = {bool: "a boolean", int: "an integer", float: "a number", str: "a string",
               list: "a list", dict: "a mapping", type(None): "null"}


@dataclasses.dataclass(frozen=True)
class Option:
    """One option of a data source: its name, accepted types, default and allowed values.

    The table of options is plain data, so the recipe validator can check a `data:`
    section without importing TensorFlow, and `build_data` checks the same table again
    for plain-Python callers.

    Args:
        name: The option name as written in a recipe.
        types: The accepted Python types (`int` also accepts booleans only when `bool`
            is listed; `float` accepts integers).
        default: The value used when the option is absent. Defaults to `None`.
        required: Whether the option must be given. Defaults to `False`.
        choices: The allowed values, or `None` for any value of the right type.
            Defaults to `None`.
        doc: A one-line description. Defaults to `""`.
    """

    name: str
    types: tuple[type, ...]
    default: Any = None
    required: bool = False
    choices: tuple[Any, ...] | None = None
    doc: str = ""

    def check(self, source: str, value: Any) -> Any:
        """Return `value` if it has an accepted type and is allowed, else raise DataError."""
        if not _type_ok(value, self.types):
            allowed = " or ".join(_TYPE_NAMES.get(t, t.__name__) for t in self.types)
            raise DataProblem(self.name, f"Data option `{self.name}` of source {source!r} must "
                              f"be {allowed}. Received: {self.name}={value!r} "
                              f"({type(value).__name__}).", value, allowed).error()
        if self.choices is not None and value not in self.choices:
            raise DataProblem(self.name, f"Data option `{self.name}` of source {source!r} must be "
                              f"one of {', '.join(repr(c) for c in self.choices)}. Received: "
                              f"{self.name}={value!r}.", value, list(self.choices),
                              did_you_mean(value, self.choices)).error()
        return value


def _type_ok(value: Any, types: tuple[type, ...]) -> bool:
    if isinstance(value, bool):
        return bool in types
    if isinstance(value, int) and float in types:
        return True
    if isinstance(value, tuple) and list in types:
        return True
    return isinstance(value, types)


def resolve_options(source: str, declared: tuple[Option, ...],
                    given: Mapping[str, Any]) -> dict[str, Any]:
    """Check the options given to a source against its declaration and fill in defaults.

    Args:
        source: The source name, for messages.
        declared: The source's options.
        given: The options received.

    Returns:
        Every declared option, with the given value or the default.

    Raises:
        DataError: For an unknown option (with a did-you-mean), a missing required
            option, a wrong type or a value outside the allowed choices.
    """
    if not isinstance(given, Mapping):
        raise DataError(f"The options of data source {source!r} must be a mapping. "
                        f"Received: {given!r} ({type(given).__name__}).")
    by_name = {option.name: option for option in declared}
    for name in given:
        if name not in by_name:
            close = difflib.get_close_matches(str(name), list(by_name), n=1)
            hint = f" Did you mean {close[0]!r}?" if close else ""
            allowed = ", ".join(by_name) or "none"
            raise DataProblem(str(name), f"Unknown data option {name!r} for source {source!r}."
                              f"{hint} Allowed options: {allowed}.", given[name], list(by_name),
                              close).error()
    resolved: dict[str, Any] = {}
    for option in declared:
        if option.name in given and given[option.name] is not None:
            resolved[option.name] = option.check(source, given[option.name])
        elif option.required:
            raise DataProblem(option.name, f"Data source {source!r} requires the option "
                              f"`{option.name}` ({option.doc or 'no default'}).", None).error()
        else:
            resolved[option.name] = option.default
    return resolved
