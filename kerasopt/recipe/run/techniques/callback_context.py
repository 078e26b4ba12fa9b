"""Callbacks that watch a fixed batch get one from the run's training data."""

from __future__ import annotations

from typing import Any

from kerasopt.recipe.run.techniques.technique import Technique


class ProbeBatch(Technique):
    """Give every callback with a `set_probe(x, y)` method (GradientMonitor) the first training batch."""

    name = "probe_batch"

    def callbacks(self, run: Any, stage: Any, callbacks: list[Any]) -> list[Any]:
        wanting = [c for c in callbacks if callable(getattr(c, "set_probe", None))]
        if wanting:
            x, y = next(iter(run.data.train.take(1)))[:2]
            for callback in wanting:
                callback.set_probe(x, y)
        return []
