"""Checks of model spec values that raise one clear ModelError naming `model.<key>`."""

from __future__ import annotations

import difflib
from collections.abc import Iterable
from typing import Any

from kerasopt.models.errors import ModelError


def _is_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def positive_int(key: str, value: Any) -> int:
    """Return `value` if it is an integer >= 1."""
    if not _is_int(value) or value < 1:
        raise ModelError(f"`model.{key}` must be an integer >= 1. Received: {key}={value!r}")
    return value


def positive_float(key: str, value: Any) -> float:
    """Return `value` as a float if it is a number > 0."""
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not value > 0:
        raise ModelError(f"`model.{key}` must be a number > 0. Received: {key}={value!r}")
    return float(value)


def int_list(key: str, value: Any, *, allow_empty: bool = False) -> list[int]:
    """Return `value` as a list if it is a list of integers >= 1 (non-empty unless allowed)."""
    if (not isinstance(value, (list, tuple)) or (not value and not allow_empty)
            or not all(_is_int(v) and v >= 1 for v in value)):
        what = "a list" if allow_empty else "a non-empty list"
        raise ModelError(f"`model.{key}` must be {what} of integers >= 1. Received: {key}={value!r}")
    return list(value)


def int_or_list(key: str, value: Any, length: int) -> list[int]:
    """Return one integer >= 1 per layer: an int is repeated, a list must have `length` items."""
    if _is_int(value):
        return [positive_int(key, value)] * length
    values = int_list(key, value)
    if len(values) != length:
        raise ModelError(f"`model.{key}` must be an integer or a list with one integer per layer "
                         f"({length} layers). Received: {key}={value!r}")
    return values


def choice(key: str, value: Any, allowed: Iterable[str]) -> str:
    """Return `value` if it is one of `allowed`."""
    allowed = tuple(allowed)
    if value not in allowed:
        raise ModelError(f"`model.{key}` must be one of {', '.join(map(repr, allowed))}. "
                         f"Received: {key}={value!r}")
    return value


def boolean(key: str, value: Any) -> bool:
    """Return `value` if it is a bool."""
    if not isinstance(value, bool):
        raise ModelError(f"`model.{key}` must be true or false. Received: {key}={value!r}")
    return value


def string_list(key: str, value: Any) -> list[str]:
    """Return `value` as a list if it is a list of strings (a single string is one item)."""
    if isinstance(value, str):
        return [value]
    if not isinstance(value, (list, tuple)) or not all(isinstance(v, str) for v in value):
        raise ModelError(f"`model.{key}` must be a list of layer-name patterns. Received: {key}={value!r}")
    return list(value)


def unknown_key(key: str, value: Any, allowed: Iterable[str], context: str) -> ModelError:
    """Build the error for an option that `context` does not take, with a did-you-mean."""
    allowed = sorted(allowed)
    close = difflib.get_close_matches(key, allowed, n=1)
    hint = f" Did you mean {close[0]!r}?" if close else ""
    return ModelError(f"`model.{key}` is not an option of {context}.{hint} Allowed: {', '.join(allowed)}. "
                      f"Received: {key}={value!r}")
