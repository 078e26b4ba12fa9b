"""Check a compression stage's `layers`/`layer_types` against the built model before anything trains."""

from __future__ import annotations

from typing import Any

from kerasopt.recipe.run.techniques.state import TechniqueState


def check_selection(state: TechniqueState, technique: str, support: Any) -> None:
    """Raise a recipe error (exit 2) when a stage's selection cannot select from the run's model.

    The check runs on the model as built, for the stages that train it (up to the first
    stage with its own `model:`): a pattern that matches no layer, a type the technique
    cannot compress or a selection of nothing stops the run before the first stage
    trains, not at the start of its own stage. (Without `layers` and `layer_types`, a model
    with nothing to compress is left to the technique, as before.)

    Args:
        state: The run's technique state (its `model`, `stages`, `recipe` and `source`).
        technique: The compression key (`pruning`, `clustering`, `qat`).
        support: The technique's :class:`kerasopt.compression.layers.Support`.
    """
    from kerasopt.compression.layers import select
    from kerasopt.recipe.errors import Problem, RecipeError

    for stage in state.stages:
        if stage.model is not None and stage.index > 0:
            return
        settings = getattr(stage.compression, technique)
        if settings is None:
            continue
        staged = bool(getattr(state.recipe, "stages", None))
        where = ("stages", stage.index, "compression", technique) if staged else ("compression", technique)
        try:
            chosen = select(state.model, settings.layers, settings.layer_types, support)
            if not chosen and (settings.layers is not None or settings.layer_types is not None):
                raise ValueError(f"selects no layer of model {state.model.name!r} that can be {support.verb} "
                                 f"(supported layer types: {support.listing()})")
        except ValueError as err:
            raise RecipeError([Problem(where, str(err), received=settings.selection())],
                              state.source) from None
