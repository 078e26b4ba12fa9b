"""Optimizers that need a second gradient on the same batch (SAM, AdaHessian) get a closure train step."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from kerasopt.recipe.run.techniques.technique import Technique

if TYPE_CHECKING:
    from kerasopt.recipe.format.stages import StageSettings
    from kerasopt.recipe.run.techniques.state import TechniqueState


class ClosureTrainStep(Technique):
    """Install :func:`kerasopt.training.enable_closure` for optimizers that declare `requires_closure`."""

    name = "closure"

    def compiled(self, state: TechniqueState, stage: StageSettings, optimizer: Any) -> None:
        if getattr(optimizer, "requires_closure", False):
            from kerasopt.training.closure import enable_closure

            enable_closure(state.model)
