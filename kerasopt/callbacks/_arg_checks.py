"""Constructor-argument checks for numbers and paths, shared by the h3 callbacks.

Integer and choice checks live in `kerasopt.callbacks.monitor` (`check_int`,
`check_choice`) and are re-exported here, so callers import one module. Each check
raises a `ValueError` that names the argument, what is allowed and the value received,
in the form the style guide asks for:
"`num_steps` must be an integer >= 5. Received: num_steps=2".
"""

from __future__ import annotations

import math
from typing import Any

from kerasopt.callbacks.monitor import check_choice as check_choice
from kerasopt.callbacks.monitor import check_int as check_int


def _fail(name: str, allowed: str, value: Any) -> None:
    raise ValueError(f"`{name}` must be {allowed}. Received: {name}={value!r}")


def check_float(
    name: str,
    value: Any,
    *,
    low: float | None = None,
    high: float | None = None,
    low_open: bool = True,
    high_open: bool = True,
) -> None:
    """Require a finite real number within the given (open or closed) bounds."""
    lower = "" if low is None else f"{'>' if low_open else '>='} {low}"
    upper = "" if high is None else f"{'<' if high_open else '<='} {high}"
    allowed = "a finite number" + (f" {lower}" if lower else "")
    allowed += (" and" if lower and upper else "") + (f" {upper}" if upper else "")
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
        _fail(name, allowed, value)
    if low is not None and (value <= low if low_open else value < low):
        _fail(name, allowed, value)
    if high is not None and (value >= high if high_open else value > high):
        _fail(name, allowed, value)


def check_optional_str(name: str, value: Any) -> None:
    """Require a non-empty string or None."""
    if value is not None and (not isinstance(value, str) or not value):
        _fail(name, "a non-empty string or None", value)
