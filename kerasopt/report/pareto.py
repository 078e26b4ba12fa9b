"""The Pareto front of a multi-objective sweep, as the report lists it (plots.pareto_front draws it)."""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from typing import Any


@dataclasses.dataclass(frozen=True)
class ParetoFront:
    """The complete trials of a multi-objective sweep and the ones on its front.

    The front comes from Optuna (`study.best_trials`: the complete trials that no other
    complete trial beats in every objective); the report only draws and lists it.

    Attributes:
        objectives: (metric, direction) of each objective, direction `minimize` or `maximize`.
        values: Run directory name (`trial_3`) -> its objective values, one per objective,
            for every complete trial.
        front: The run directory names of the trials on the front.
    """

    objectives: Sequence[tuple[str, str]]
    values: dict[str, tuple[float, ...]]
    front: Sequence[str]

    def table(self, params: dict[str, dict[str, Any]]) -> tuple[list[str], list[list[Any]]]:
        """Headers and raw cells of the front: run, each objective, each param; by the first objective.

        Args:
            params: Run name -> its trial params (a run without params gets empty cells).

        Example:
            >>> front = ParetoFront([("val_accuracy", "maximize"), ("params", "minimize")],
            ...                     {"trial_0": (0.9, 500.0), "trial_1": (0.8, 90.0), "trial_2": (0.7, 95.0)},
            ...                     ["trial_0", "trial_1"])
            >>> front.table({"trial_0": {"units": 32}, "trial_1": {"units": 4}})
            (['run', 'val_accuracy (maximize)', 'params (minimize)', 'units'], [['trial_0', 0.9, 500.0, 32], ['trial_1', 0.8, 90.0, 4]])
        """
        keys = list(dict.fromkeys(k for name in self.front for k in params.get(name, {})))
        order = sorted(self.front, key=lambda n: self.values[n][0], reverse=self.objectives[0][1] == "maximize")
        headers = ["run", *(f"{m} ({d})" for m, d in self.objectives), *keys]
        rows = [[name, *self.values[name], *(params.get(name, {}).get(k) for k in keys)] for name in order]
        return headers, rows
