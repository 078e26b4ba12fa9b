"""`training.ema.start` at or past the end of its stage: the average would never take in a step.

A stage whose average starts at or after its last step would end with its plain trained
weights while the run reports an EMA stage, so the start is refused: at validate time where
the start's unit and the stage's length compare without the data (a fraction of the stage,
epochs against `epochs`, steps against `steps`), and for every stage once the run knows its
steps per epoch, before the first stage trains.
"""

from __future__ import annotations

from typing import Any

from kerasopt.recipe.check.stage_order import written_at
from kerasopt.recipe.errors import Problem
from kerasopt.recipe.format.fields import DURATION_RE, to_steps
from kerasopt.recipe.format.schema import Recipe
from kerasopt.recipe.format.stages import resolve_stages


def ema_start_problems(recipe: Recipe, raw: dict[str, Any], steps_per_epoch: int | None = None) -> list[Problem]:
    """A problem for each stage whose `training.ema.start` is not before the stage's end.

    Args:
        recipe: The validated recipe.
        raw: The data it was validated from.
        steps_per_epoch: The training data's batches per epoch, once known (the run);
            None at validate time, where only starts in the stage's own unit are compared.
    """
    problems = []
    for stage in resolve_stages(recipe, raw):
        ema = stage.training.ema
        if ema is None:
            continue
        unit, amount = stage.training.length()
        if not _past_the_end(ema.start, unit, amount, steps_per_epoch):
            continue
        path, _ = written_at(recipe, raw, stage, "training", "ema")
        length = f"{amount} {unit}"
        if steps_per_epoch is not None and unit == "epochs":
            length += f" of {steps_per_epoch} steps"
        problems.append(Problem(
            (*path, "start"), f"averaging starts at or after the end of stage {stage.name!r} ({length}), "
            "so the average would never take in a step", received=ema.start,
            allowed=f"a start before the stage's end: fewer than {amount} {unit}, or a fraction below 1dur"))
    return problems


def _past_the_end(start: int | str, unit: str, amount: int, steps_per_epoch: int | None) -> bool:
    if steps_per_epoch is not None:
        total = amount * steps_per_epoch if unit == "epochs" else amount
        return to_steps(start, steps_per_epoch=steps_per_epoch, total_steps=total) >= total
    match = DURATION_RE.match(start.strip()) if isinstance(start, str) else None
    if match is not None and match["unit"] == "dur":
        return float(match["value"]) >= 1
    start_unit = "epochs" if match is not None and match["unit"] == "ep" else "steps"
    if start_unit != unit:
        return False  # steps against epochs: known once the data is built
    return (float(match["value"]) if match is not None else start) >= amount
