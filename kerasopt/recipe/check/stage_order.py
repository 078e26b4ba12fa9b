"""Techniques that cannot follow one another across stages (or must end a run), refused before anything runs."""

from __future__ import annotations

from typing import Any

from kerasopt.recipe.errors import Problem
from kerasopt.recipe.format.schema import Recipe
from kerasopt.recipe.format.stages import resolve_stages

WRAPPING = ("qat", "clustering")
"""Techniques whose layer wrappers stay on the model through every later stage (to the export)."""


def stage_order_problems(recipe: Recipe, raw: dict[str, Any]) -> list[Problem]:
    """`channel_pruning` in a stage after a QAT or clustering stage (of the same model), and
    `training.lora` in a stage other than the last.

    Channel pruning rebuilds the model from its plain Dense and Conv layers; after QAT or
    clustering those layers sit inside the technique's wrappers until the export, so no
    channel could be removed and the run would stop after the earlier stages had trained.
    A stage that builds a new model (`model:`) starts unwrapped.
    """
    problems = []
    wrapped_by: tuple[str, str] | None = None
    for stage in resolve_stages(recipe, raw):
        if stage.model is not None:
            wrapped_by = None
        settings = stage.compression.channel_pruning
        if settings is not None and wrapped_by is not None:
            path, received = written_at(recipe, raw, stage, "compression", "channel_pruning")
            problems.append(Problem(
                path, f"stage {stage.name!r} prunes channels after stage {wrapped_by[0]!r} ran {wrapped_by[1]}, "
                f"whose wrappers stay on the layers to the export, so no channel can be removed",
                received=received,
                allowed=f"channel_pruning in a stage before any {' or '.join(WRAPPING)} stage "
                        "(prune channels first, then cluster or quantize)"))
        for technique in WRAPPING:
            if wrapped_by is None and getattr(stage.compression, technique) is not None:
                wrapped_by = (stage.name, technique)
    return problems + _lora_problems(recipe, raw)


def _lora_problems(recipe: Recipe, raw: dict[str, Any]) -> list[Problem]:
    """`training.lora` in a stage other than the last: its factors are merged into the
    exported model, so LoRA fine-tuning ends a run."""
    stages = resolve_stages(recipe, raw)
    problems = []
    for stage in stages[:-1]:
        if stage.training.lora is None:
            continue
        path, received = written_at(recipe, raw, stage, "training", "lora")
        if any(problem.path == path for problem in problems):
            continue  # set at the top: every stage but the last repeats it
        problems.append(Problem(
            path, f"`lora` is set in stage {stage.name!r}, which is not the last stage; LoRA fine-tuning "
            "ends a run (its factors are merged into the exported model)",
            received=received,
            allowed=f"lora in the last stage's `training:` only (stage {stages[-1].name!r})"))
    return problems


def written_at(recipe: Recipe, raw: dict[str, Any], stage: Any, section: str,
                key: str) -> tuple[tuple[Any, ...], Any]:
    """Where the recipe file sets `section.key` for `stage` (the stage itself, or the top level
    it inherits from), and the value written there."""
    own = ((raw.get("stages") or [{}])[stage.index].get(section) or {}) if recipe.stages else {}
    if key in own:
        return ("stages", stage.index, section, key), own[key]
    return (section, key), (raw.get(section) or {}).get(key)
