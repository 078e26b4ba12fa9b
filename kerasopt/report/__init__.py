"""Comparison reports of run directories (`kerasopt compare`): a table, plots, Markdown and HTML.

Names load on first use, so that `kerasopt --help` (which imports `kerasopt.report.cli`)
stays free of matplotlib and TensorBoard.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from kerasopt.report.comparison import Comparison as Comparison
    from kerasopt.report.run_record import NotARunError as NotARunError
    from kerasopt.report.run_record import RunRecord as RunRecord

_WHERE = {"Comparison": "comparison", "NotARunError": "run_record", "RunRecord": "run_record"}
__all__ = ["Comparison", "NotARunError", "RunRecord"]


def __getattr__(name: str) -> Any:
    if name not in _WHERE:
        raise AttributeError(f"module 'kerasopt.report' has no attribute {name!r}")
    return getattr(importlib.import_module(f"kerasopt.report.{_WHERE[name]}"), name)
