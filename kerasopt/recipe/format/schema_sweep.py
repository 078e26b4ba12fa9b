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

`kerasopt run` ignores the section; command-line options of `kerasopt sweep` override it.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any, Literal

import yaml
from pydantic import Field, ValidationError, field_validator, model_validator

from kerasopt.recipe.errors import Location, Problem, RecipeError
from kerasopt.recipe.format.fields import StrictModel
from kerasopt.recipe.format.sweep_distribution import SYNTAX, Distribution

SAMPLERS = ("tpe", "random", "grid")
_LOWER_IS_BETTER = ("loss", "error", "mae", "mse", "rmse", "crossentropy")


def resolve_direction(metric: str, direction: str) -> str:
    """`minimize` or `maximize`; `auto` minimizes losses and errors and maximizes the rest.

    Example:
        >>> resolve_direction("val_loss", "auto"), resolve_direction("val_accuracy", "auto")
        ('minimize', 'maximize')
    """
    if direction != "auto":
        return direction
    name = metric.lower()
    return "minimize" if any(name.endswith(s) for s in _LOWER_IS_BETTER) else "maximize"


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
    sampler: Literal["tpe", "random", "grid"] = "tpe"
    metric: str = Field("val_loss", pattern=r"^(val|test)_\w+$",
                        description="val_<metric> or test_<metric> of metrics.json's evaluation")
    direction: Literal["minimize", "maximize", "auto"] = "auto"

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
