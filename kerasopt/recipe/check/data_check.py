"""The data a valid recipe names, checked before anything heavy runs (no TensorFlow).

Runs as the last step of validation, so `kerasopt validate` and `kerasopt run` both stop
with exit 2 on a wrong path, a missing column, NaN features, a single class...
"""

from __future__ import annotations

import re
from typing import Any

from kerasopt.recipe.errors import Problem
from kerasopt.recipe.format.merge_rules import merged_stage_training
from kerasopt.recipe.format.schema import Recipe


def data_problems(recipe: Recipe, raw: dict[str, Any]) -> list[Problem]:
    """The problems :func:`kerasopt.data.precheck.check_data` finds, as recipe problems.

    The loss and `class_weight` in force in the first stage decide the output layer the
    data must fit (binary crossentropy needs two classes, for example).
    """
    from kerasopt.data.precheck import check_data

    training: dict[str, Any] = raw.get("training") if isinstance(raw.get("training"), dict) else {}
    if raw.get("stages"):
        training = merged_stage_training(training, raw["stages"][0])
    loss = recipe.training.loss if not recipe.stages else training.get("loss")
    found = check_data(recipe.data.source, recipe.data.source_options(),
                       class_weight=training.get("class_weight"), loss=loss,
                       output_activation=getattr(recipe.model, "output_activation", "auto"),
                       output_units=_fixed_output_units(recipe.model))
    return [Problem((p.section, *p.key.split(".")), _sentence(p.message), received=p.received,
                    allowed=p.allowed, suggestions=list(p.suggestions)) for p in found]


def _fixed_output_units(model: Any) -> int | None:
    """The output width of a `.keras` model used as it is (no `replace_head`), read from the file."""
    if getattr(model, "architecture", None) != "file" or model.replace_head:
        return None
    from kerasopt.recipe.check.file_check import output_width

    return output_width(model.path)


def _sentence(message: str) -> str:
    """The message as a recipe problem shows it: lower-case start, no "Received: ..." (shown below it)."""
    message = re.sub(r"\s*Received: .*$", "", message, flags=re.DOTALL).rstrip()
    message = message.rstrip(".") if message.count(".") == 1 and message.endswith(".") else message
    return message[:1].lower() + message[1:] if message[:2] != message[:2].upper() else message
