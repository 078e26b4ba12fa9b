"""The `sweep:` section of a recipe: what `kerasopt sweep` searches when no `--param` is given.

```yaml
sweep:
  params:
    training.optimizer.learning_rate: loguniform(1e-4, 1e-1)
    training.optimizer.type: choice(adam, radam, sgd)
  trials: 20
  sampler: tpe          # tpe | random | grid (grid: every param a choice)
  metric: val_accuracy
  direction: maximize   # minimize | maximize | auto (minimize losses and errors)
```

Several objectives at once (a multi-objective study; the report draws the Pareto front):

```yaml
sweep:
  objectives:
    - {metric: val_accuracy, direction: maximize}
    - {metric: exports.tflite.bytes}          # direction auto: minimize sizes and latencies
```

`kerasopt run` ignores the section; command-line options of `kerasopt sweep` override it.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any, Literal

import yaml
from pydantic import Field, ValidationError, field_validator, model_validator

from kerasopt.recipe.errors import Location, Problem, RecipeError
from kerasopt.recipe.format.fields import Flag, StrictModel
from kerasopt.recipe.format.sweep_distribution import SYNTAX, Distribution

SAMPLERS = ("tpe", "random", "grid", "nsga2")
_LOWER_IS_BETTER = ("loss", "error", "mae", "mse", "rmse", "crossentropy", "bytes", "latency_us",
                    "max_abs_diff", "seconds", "params")
METRIC_PATTERN = r"^((val|test)_\w+|exports\.\w+\.\w+|params)$"
"""An objective: `val_<m>`/`test_<m>` of metrics.json's evaluation, `exports.<file>.<key>`
(`exports.tflite.bytes`, `exports.tflite.latency_us`, `exports.tflite.speedup`) or `params`."""
METRIC_SYNTAX = "val_<metric>, test_<metric>, exports.<file>.<key> (exports.tflite.bytes) or params"


def resolve_direction(metric: str, direction: str) -> str:
    """`minimize` or `maximize`; `auto` minimizes losses, errors, sizes and latencies, maximizes the rest.

    Example:
        >>> resolve_direction("val_loss", "auto"), resolve_direction("val_accuracy", "auto")
        ('minimize', 'maximize')
        >>> resolve_direction("exports.tflite.bytes", "auto"), resolve_direction("exports.tflite.speedup", "auto")
        ('minimize', 'maximize')
    """
    if direction != "auto":
        return direction
    name = metric.lower()
    return "minimize" if any(name.endswith(s) for s in _LOWER_IS_BETTER) else "maximize"


class Objective(StrictModel):
    """One objective of a multi-objective sweep: a metric and its direction."""

    metric: str = Field(pattern=METRIC_PATTERN, description=METRIC_SYNTAX)
    direction: Literal["minimize", "maximize", "auto"] = "auto"


class SweepSection(StrictModel):
    """A recipe's `sweep:` section.

    `params` maps dotted recipe keys to distributions written as in `--param`
    (`uniform(a,b)`, `loguniform(a,b)`, `int(a,b)`, `int(a,b,log)`, `choice(a,b,...)`).
    """

    params: dict[str, str] = Field(
        default_factory=dict, description=f"dotted recipe key -> distribution: {SYNTAX}")
    trials: Annotated[int, Field(ge=1, strict=True)] | None = Field(
        None, description="finished trials the study should hold (default: the grid's size for "
        "`grid`, else 20)")
    sampler: Literal["tpe", "random", "grid", "nsga2"] = "tpe"
    metric: str = Field("val_loss", pattern=METRIC_PATTERN, description=METRIC_SYNTAX)
    direction: Literal["minimize", "maximize", "auto"] = "auto"
    objectives: list[Objective] | None = Field(
        None, min_length=1, description="several objectives at once, each {metric, direction} "
        "(a multi-objective study; instead of `metric` and `direction`)")
    prune: Flag = Field(False, description="stop unpromising trials early (MedianPruner); "
                        "single-objective sweeps only")

    @field_validator("params")
    @classmethod
    def _distributions_parse(cls, params: dict[str, str]) -> dict[str, str]:
        for key, text in params.items():
            try:
                Distribution.parse(str(text))
            except ValueError as err:
                raise ValueError(f"params[{key!r}]: {err}") from None
        return params

    @model_validator(mode="after")
    def _grid_of_choices(self) -> SweepSection:
        if self.sampler == "grid":
            ranges = [k for k, t in self.params.items() if Distribution.parse(t).kind != "choice"]
            if ranges:
                raise ValueError(f"the grid sampler needs every param to be a choice(...); "
                                 f"ranges given for: {', '.join(ranges)}")
        return self

    @model_validator(mode="after")
    def _objectives_or_metric(self) -> SweepSection:
        if self.objectives is not None and {"metric", "direction"} & self.model_fields_set:
            raise ValueError("give either `objectives` or `metric`/`direction`, not both")
        if self.prune and len(self.objective_list()) > 1:
            raise ValueError("prune: Optuna cannot prune trials of a multi-objective study; "
                             "set `prune: false` or keep one objective")
        return self

    def objective_list(self) -> list[tuple[str, str]]:
        """(metric, direction) of each objective (direction as written, `auto` included)."""
        if self.objectives is None:
            return [(self.metric, self.direction)]
        return [(o.metric, o.direction) for o in self.objectives]

    def distributions(self) -> dict[str, Distribution]:
        """The params, parsed."""
        return {key: Distribution.parse(text) for key, text in self.params.items()}


def read_sweep_section(path: str | Path) -> SweepSection | None:
    """The `sweep:` section of a recipe file, validated (None when it has none).

    Raises:
        RecipeError: With the key path of every problem in the section.
    """
    data: Any = yaml.safe_load(Path(path).read_text(encoding="utf-8"))
    section = data.get("sweep") if isinstance(data, dict) else None
    if section is None:
        return None
    try:
        return SweepSection.model_validate(section)
    except ValidationError as err:
        problems = [Problem(("sweep", *(str(p) for p in e["loc"])), e["msg"].removeprefix("Value error, "),
                            received=e.get("input"), location=Location(str(path)))
                    for e in err.errors(include_url=False)]
        raise RecipeError(problems, str(path)) from None
