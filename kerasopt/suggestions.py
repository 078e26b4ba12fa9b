"""Did-you-mean: the one place that finds names close to a misspelled one.

Recipe validation, data checks and components' own argument errors all suggest names the
same way. This module imports nothing from kerasopt, so any layer of the package may use it.
"""

from __future__ import annotations

import difflib
from collections.abc import Iterable
from typing import Any


def did_you_mean(value: Any, choices: Iterable[Any]) -> list[str]:
    """Up to three names among `choices` close to `value` (case-insensitive), best first.

    Example:
        >>> did_you_mean("lable", ["label", "feature"])
        ['label']
    """
    if not isinstance(value, str):
        return []
    by_lower = {str(c).lower(): str(c) for c in choices}
    return [by_lower[c] for c in difflib.get_close_matches(value.lower(), list(by_lower), n=3,
                                                           cutoff=0.6)]
