"""Compression techniques, each in its own folder with a method card.

Names load on first use (importing the package imports no Keras):
:func:`factorize_low_rank` and :func:`low_rank_plan` (from `kerasopt.compression.low_rank`).
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from kerasopt.compression.low_rank import factorize_low_rank as factorize_low_rank
    from kerasopt.compression.low_rank import low_rank_plan as low_rank_plan

_WHERE = {"factorize_low_rank": "low_rank", "low_rank_plan": "low_rank"}
__all__ = sorted(_WHERE)


def __getattr__(name: str) -> Any:
    if name not in _WHERE:
        raise AttributeError(f"module 'kerasopt.compression' has no attribute {name!r}")
    return getattr(importlib.import_module(f"kerasopt.compression.{_WHERE[name]}"), name)
