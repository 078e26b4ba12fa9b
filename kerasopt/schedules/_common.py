"""Helpers shared by kerasopt's learning-rate schedules (validation and `keras.ops` math).

Private to `kerasopt.schedules`: each schedule module imports what it needs from here so
argument checks produce one message format and the interpolation shapes (linear, cosine,
polynomial, geometric) are written once.
"""

from __future__ import annotations

import math
import numbers
from collections.abc import Iterable
from typing import Any

from keras import ops

DTYPE = "float32"
"""Every kerasopt schedule computes and returns its learning rate in float32."""


def _describe(integer: bool, low: float | None, low_open: bool, high: float | None,
              high_open: bool) -> str:
    kind = "an integer" if integer else "a number"
    parts = []
    if low is not None:
        parts.append(f"{'>' if low_open else '>='} {low}")
    if high is not None:
        parts.append(f"{'<' if high_open else '<='} {high}")
    return kind + (" " + " and ".join(parts) if parts else "")


def check_number(name: str, value: Any, *, low: float | None = None, low_open: bool = False,
                 high: float | None = None, high_open: bool = False,
                 integer: bool = False) -> None:
    """Raise `ValueError` unless `value` is a finite real (or integer) within the bounds.

    Args:
        name: The argument name, quoted in the message.
        value: The value received.
        low: Lower bound, or `None` for none.
        low_open: Whether the lower bound is excluded.
        high: Upper bound, or `None` for none.
        high_open: Whether the upper bound is excluded.
        integer: Whether `value` must be an integer.

    Raises:
        ValueError: "`name` must be <constraint>. Received: name=<value>".
    """
    wanted = numbers.Integral if integer else numbers.Real
    ok = isinstance(value, wanted) and not isinstance(value, bool)
    if ok and not integer:
        ok = math.isfinite(float(value))
    if ok and low is not None:
        ok = value > low if low_open else value >= low
    if ok and high is not None:
        ok = value < high if high_open else value <= high
    if not ok:
        raise ValueError(
            f"`{name}` must be {_describe(integer, low, low_open, high, high_open)}. "
            f"Received: {name}={value!r}"
        )


def check_choice(name: str, value: Any, allowed: Iterable[str]) -> None:
    """Raise `ValueError` unless `value` is one of the `allowed` strings."""
    allowed = tuple(allowed)
    if value not in allowed:
        raise ValueError(
            f"`{name}` must be one of {', '.join(repr(a) for a in allowed)}. "
            f"Received: {name}={value!r}"
        )


def check_name(value: Any) -> None:
    """Raise `ValueError` unless the schedule `name` is a non-empty string."""
    if not isinstance(value, str) or not value:
        raise ValueError(f"`name` must be a non-empty string. Received: name={value!r}")


def float_step(step: Any) -> Any:
    """Return `step` (a Python int or an integer/float tensor) as a float32 tensor."""
    return ops.cast(ops.convert_to_tensor(step), DTYPE)


def fraction(step: Any, start: float, length: float) -> Any:
    """Return `(step - start) / length` clipped to `[0, 1]` (`step` is a float tensor)."""
    return ops.clip((step - start) / float(length), 0.0, 1.0)


def interpolate(start: Any, end: Any, pct: Any, shape: str) -> Any:
    """Move from `start` (at `pct = 0`) to `end` (at `pct = 1`) along a named shape.

    Args:
        start: Value at `pct = 0` (float or float32 tensor).
        end: Value at `pct = 1`.
        pct: Progress in `[0, 1]` (float32 tensor).
        shape: `"linear"`; `"cos"` (half cosine, `end + (start - end) * (1 + cos(pi pct)) / 2`);
            `"sqrt"` (`end + (start - end) * (1 - sqrt(pct))`).

    Returns:
        A float32 tensor.
    """
    if shape == "linear":
        weight = 1.0 - pct
    elif shape == "cos":
        weight = 0.5 * (1.0 + ops.cos(math.pi * pct))
    elif shape == "sqrt":
        weight = 1.0 - ops.sqrt(pct)
    else:
        raise ValueError(f"Unknown interpolation shape {shape!r}.")
    return end + (start - end) * weight
