"""Optimizers that need a second gradient on the same batch (SAM, AdaHessian) get a closure train step."""

from __future__ import annotations

from typing import Any

from kerasopt.recipe.run.techniques.technique import Technique


class ClosureTrainStep(Technique):
    """Install :func:`kerasopt.training.enable_closure` for optimizers that declare `requires_closure`."""

    name = "closure"

    def compiled(self, run: Any, stage: Any, optimizer: Any) -> None:
        if getattr(optimizer, "requires_closure", False):
            from kerasopt.training.closure import enable_closure

            enable_closure(run.model)
