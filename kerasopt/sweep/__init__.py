"""Hyperparameter sweeps of recipes on Optuna (`kerasopt sweep`).

Names load on first use, so that `kerasopt --help` (which imports `kerasopt.sweep.cli`)
stays free of the recipe schema, Optuna and Keras.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from kerasopt.recipe.format.schema_sweep import SweepSection as SweepSection
    from kerasopt.recipe.format.sweep_distribution import Distribution as Distribution
    from kerasopt.sweep.search_space import SearchSpace as SearchSpace
    from kerasopt.sweep.sweep import Sweep as Sweep

_WHERE = {"Distribution": "kerasopt.recipe.format.sweep_distribution", "SearchSpace": "kerasopt.sweep.search_space",
          "Sweep": "kerasopt.sweep.sweep", "SweepSection": "kerasopt.recipe.format.schema_sweep"}
__all__ = ["Distribution", "SearchSpace", "Sweep", "SweepSection"]


def __getattr__(name: str) -> Any:
    if name not in _WHERE:
        raise AttributeError(f"module 'kerasopt.sweep' has no attribute {name!r}")
    return getattr(importlib.import_module(_WHERE[name]), name)
