"""What a technique sees of a run: the narrow state every hook receives.

A technique reads and changes only this (never the runner): the model being trained, the
data, the strategy's scope, the recipe and its stages, each stage's plan, the TensorBoard
folder, and two things the run provides for it: a fresh build of a `model:` section and
the model without any technique's training wrappers.
"""

from __future__ import annotations

import contextlib
import dataclasses
from collections.abc import Callable, Mapping, Sequence
from contextlib import AbstractContextManager
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from kerasopt.recipe.format.schema import Recipe
    from kerasopt.recipe.format.stages import StageSettings
    from kerasopt.recipe.run.assemble import StagePlan


@dataclasses.dataclass
class TechniqueState:
    """The part of a run a technique's hooks read, and the model they may replace.

    Attributes:
        recipe: The validated recipe.
        source: The recipe file, for the recipe errors a hook raises.
        stages: Every stage with the settings in force in it.
        data: The data bundle (set once built; its `batch_size` is final before any stage).
        model: The model being trained, evaluated and exported; a hook may replace it
            (pruning wraps layers at `stage_start`, strips them at `before_export`).
        scope: Enters the distribution strategy's scope; layers and variables a hook
            creates are created inside it. Defaults to a scope that does nothing.
        log_dir: The TensorBoard folder, when this process logs. Defaults to `None`.
        plans: Each stage's :class:`~kerasopt.recipe.run.assemble.StagePlan`, by stage
            index, computed once when the data is final. Defaults to none.
        build_model: A fresh, untrained build of a `model:` section (None: the recipe's).
            Defaults to a function that raises (nothing to build from).
        strippers: Functions that return a model without one technique's training
            wrappers (each technique's :meth:`~Technique.strip`), applied in order by
            :meth:`unwrapped_model`. Defaults to none.
        saved: What a technique chooses at a stage's start and needs again to rebuild the
            same architecture on `--resume` (low-rank factorization's ranks), by technique
            name; JSON values, kept in `checkpoints/progress.json`. Defaults to empty.
    """

    recipe: Recipe
    source: str
    stages: Sequence[StageSettings]
    data: Any = None
    model: Any = None
    scope: Callable[[], AbstractContextManager[Any]] = contextlib.nullcontext
    log_dir: str | None = None
    plans: Mapping[int, StagePlan] = dataclasses.field(default_factory=dict)
    build_model: Callable[[Any], Any] = dataclasses.field(default=lambda section: _no_builder(section))
    strippers: Sequence[Callable[[Any], Any]] = ()
    saved: dict[str, Any] = dataclasses.field(default_factory=dict)

    def unwrapped_model(self) -> Any:
        """The model without any technique's training wrappers (the model itself when none
        wraps it); the state's `model` stays as it is."""
        model = self.model
        for strip in self.strippers:
            model = strip(model)
        return model


def _no_builder(section: Any) -> Any:
    raise RuntimeError("this state builds no model: pass `build_model`")
