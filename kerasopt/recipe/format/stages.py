"""The stages of a run, each with the settings in force in it, resolved once from the recipe."""

from __future__ import annotations

import dataclasses
from typing import Any

from kerasopt.recipe.format.merge_rules import merged_stage_compression, merged_stage_training
from kerasopt.recipe.format.schema import Recipe
from kerasopt.recipe.format.schema_compression import Compression
from kerasopt.recipe.format.schema_training import Training


@dataclasses.dataclass(frozen=True)
class StageSettings:
    """One stage as it runs: the top-level sections merged with the stage's own.

    Attributes:
        index: Position in the recipe (0 for a recipe without `stages:`).
        name: The stage's name (`train` for a recipe without `stages:`).
        training: The `training:` settings in force.
        compression: The `compression:` settings in force.
        model: A new model's `model:` section, built at the start of the stage, or None.
        freeze: Layer-name patterns frozen at the start of the stage.
        unfreeze: Layer-name patterns unfrozen at the start of the stage.
    """

    index: int
    name: str
    training: Training
    compression: Compression
    model: Any = None
    freeze: tuple[str, ...] = ()
    unfreeze: tuple[str, ...] = ()


def resolve_stages(recipe: Recipe, raw: dict[str, Any]) -> list[StageSettings]:
    """The stages to run, from the validated recipe and the data it was validated from."""
    if not recipe.stages:
        return [StageSettings(0, "train", recipe.training, recipe.compression)]
    top_training = raw.get("training") or {}
    top_compression = raw.get("compression") or {}
    stages = []
    for index, stage in enumerate(recipe.stages):
        raw_stage = raw["stages"][index]
        stages.append(StageSettings(
            index, stage.name,
            Training.model_validate(merged_stage_training(top_training, raw_stage)),
            Compression.model_validate(merged_stage_compression(top_compression, raw_stage)),
            stage.model, tuple(stage.freeze), tuple(stage.unfreeze)))
    return stages
