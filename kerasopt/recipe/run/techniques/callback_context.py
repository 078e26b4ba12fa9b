"""Callbacks that watch a fixed batch get one from the run's training data."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from kerasopt.recipe.run.techniques.technique import Technique

if TYPE_CHECKING:
    from kerasopt.recipe.format.stages import StageSettings
    from kerasopt.recipe.run.techniques.state import TechniqueState


class ProbeBatch(Technique):
    """Give every callback with a `set_probe(x, y)` method (GradientMonitor) the first training batch."""

    name = "probe_batch"

    def callbacks(self, state: TechniqueState, stage: StageSettings, callbacks: list[Any]) -> list[Any]:
        wanting = [c for c in callbacks if callable(getattr(c, "set_probe", None))]
        if wanting:
            x, y = next(iter(state.data.train.take(1)))[:2]
            for callback in wanting:
                callback.set_probe(x, y)
        return []
