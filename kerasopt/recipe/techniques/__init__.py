"""Techniques that plug into a run through the hooks of :class:`Technique`.

The run creates one instance of every class in :data:`TECHNIQUES` and calls each hook on
all of them in this order; a technique that has nothing to do at a hook does nothing.
"""

from __future__ import annotations

from kerasopt.recipe.techniques.callback_context import ProbeBatch as ProbeBatch
from kerasopt.recipe.techniques.closure import ClosureTrainStep as ClosureTrainStep
from kerasopt.recipe.techniques.lsuv import LSUVInitialization as LSUVInitialization
from kerasopt.recipe.techniques.technique import Technique as Technique
from kerasopt.recipe.techniques.weight_averaging import WeightAveraging as WeightAveraging

TECHNIQUES: tuple[type[Technique], ...] = (
    LSUVInitialization,
    ClosureTrainStep,
    ProbeBatch,
    WeightAveraging,
)
"""Every technique a run consults, in hook order."""

__all__ = ["TECHNIQUES", "ClosureTrainStep", "LSUVInitialization", "ProbeBatch", "Technique",
           "WeightAveraging"]
