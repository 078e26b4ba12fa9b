"""Validate a recipe's data and report every problem at once.

Two passes over the same data:

1. A walk over the raw data guided by the schema classes: unknown keys (with the keys
   allowed there and a did-you-mean) and component specs (checked against the registry's
   signature table).
2. Pydantic validation of types, ranges, enums and cross-field rules.

Problems from both are merged (one per key path), given their YAML positions and sorted
in file order.
"""

from __future__ import annotations

import re
import typing
from typing import Any

from pydantic import BaseModel, Discriminator, Tag, ValidationError

from kerasopt.recipe.check.components import check_component, check_layer_type
from kerasopt.recipe.errors import Location, Path, Problem, did_you_mean
from kerasopt.recipe.format.fields import MISSING_TYPE, ComponentKind, LayerTypeName
from kerasopt.recipe.format.merge_rules import merged_stage_compression, merged_stage_training
from kerasopt.recipe.format.schema import Recipe
from kerasopt.recipe.format.schema_compression import Compression
from kerasopt.recipe.format.schema_data import DATA_CLASSES
from kerasopt.recipe.format.schema_model import ARCHITECTURES
from kerasopt.recipe.format.schema_training import Training


def validate(raw: Any, positions: dict[Path, Location]) -> tuple[Recipe | None, list[Problem]]:
    """Validate recipe data.

    Args:
        raw: The merged recipe data (after `extends` and overrides).
        positions: Where each key path was written.

    Returns:
        The validated `Recipe` (None if there are problems) and the problems, in file order.
    """
    if not isinstance(raw, dict):
        problem = Problem((), "a recipe must be a mapping of sections (data:, model:, training: ...)",
                          received=raw)
        return None, [problem]
    problems = walk(raw, Recipe, ())
    for index, stage in enumerate(_stages(raw)):
        if isinstance(stage, dict) and isinstance(stage.get("training"), dict):
            problems += walk(stage["training"], Training, ("stages", index, "training"))
    recipe: Recipe | None = None
    try:
        recipe = Recipe.model_validate(raw)
    except ValidationError as err:
        problems += pydantic_problems(err, raw, ())
    problems += _stage_problems(raw)
    if recipe is not None and not problems:
        from kerasopt.recipe.check.data_check import data_problems
        from kerasopt.recipe.check.ema_start import ema_start_problems
        from kerasopt.recipe.check.file_check import file_problems
        from kerasopt.recipe.check.stage_order import stage_order_problems
        from kerasopt.recipe.check.sweep_metrics import sweep_section_problems

        problems += stage_order_problems(recipe, raw) + file_problems(recipe) + data_problems(recipe, raw)
        problems += sweep_section_problems(recipe, raw) + ema_start_problems(recipe, raw)
    problems = _dedupe(problems)
    located = [_locate(p, positions) for p in problems]
    located.sort(key=_file_order)
    return (recipe if not located else None), located


def _stages(raw: dict[str, Any]) -> list[Any]:
    """The `stages:` list, or none when it is not a list (the schema reports that)."""
    stages = raw.get("stages")
    return stages if isinstance(stages, list) else []


def _stage_problems(raw: dict[str, Any]) -> list[Problem]:
    problems: list[Problem] = []
    top = raw.get("training") if isinstance(raw.get("training"), dict) else {}
    top_compression = raw.get("compression") if isinstance(raw.get("compression"), dict) else {}
    for index, stage in enumerate(_stages(raw)):
        own_training = stage.get("training") if isinstance(stage, dict) else None
        if isinstance(own_training, dict):
            for key in ("epochs", "steps"):
                if key in own_training and (stage.get("epochs") is not None or stage.get("steps") is not None):
                    problems.append(Problem(
                        ("stages", index, "training", key),
                        f"the stage sets its length with `{'epochs' if stage.get('epochs') is not None else 'steps'}:` "
                        "already; give it once, directly in the stage", received=own_training[key],
                        allowed=f"stages.{index}.{key} only"))
        if isinstance(stage, dict) and isinstance(stage.get("compression") or {}, dict) \
                and stage.get("compression") and top_compression:
            try:
                Compression.model_validate(merged_stage_compression(top_compression, stage))
            except ValidationError as err:
                problems += [Problem(("stages", index, "compression", *p.path), p.message, p.received,
                                     p.allowed, p.suggestions, has_received=p.has_received)
                             for p in pydantic_problems(err, merged_stage_compression(top_compression, stage), ())]
        if not isinstance(stage, dict) or not isinstance(stage.get("training", {}), dict):
            continue
        try:
            Training.model_validate(merged_stage_training(top, stage))
        except ValidationError as err:
            own = set(stage.get("training") or {}) | {"epochs", "steps"}
            for problem in pydantic_problems(err, merged_stage_training(top, stage), ()):
                if not problem.path or problem.path[0] in own:
                    prefix: Path = ("stages", index) if problem.path[:1] in (("epochs",), ("steps",)) \
                        and "training" not in stage else ("stages", index, "training")
                    problems.append(Problem((*prefix, *problem.path), problem.message,
                                            problem.received, problem.allowed, problem.suggestions,
                                            has_received=problem.has_received))
    return problems


# ---------------------------------------------------------------------------
# Pass 1: unknown keys and components, guided by the schema classes
# ---------------------------------------------------------------------------

def walk(raw: Any, model: type[BaseModel], path: Path) -> list[Problem]:
    """Unknown keys and component problems in `raw`, read as an instance of `model`."""
    if not isinstance(raw, dict):
        return []
    hints = typing.get_type_hints(model, include_extras=True)
    allowed = list(model.model_fields)
    problems = [
        Problem((*path, key), f"unknown key in {_section(path)}", received=raw[key],
                allowed=allowed, suggestions=did_you_mean(str(key), allowed))
        for key in raw if key not in model.model_fields
    ]
    for key, value in raw.items():
        if key in model.model_fields:
            problems += _descend(value, hints[key], (*path, key))
    return problems


def _section(path: Path) -> str:
    if not path:
        return "the recipe"
    return "`" + ".".join(str(p) for p in path if not isinstance(p, int)) + "`"


def _descend(value: Any, annotation: Any, path: Path) -> list[Problem]:
    origin = typing.get_origin(annotation)
    if origin is typing.Annotated:
        inner, *metadata = typing.get_args(annotation)
        for meta in metadata:
            if isinstance(meta, ComponentKind):
                return check_component(meta.kind, value, path)
            if isinstance(meta, LayerTypeName):
                return check_layer_type(value, path)
            if isinstance(meta, Discriminator):
                return _descend_tagged(value, inner, meta, path)
        return _descend(value, inner, path)
    if origin in (list, tuple) and isinstance(value, list):
        (item,) = typing.get_args(annotation)[:1]
        return [p for i, v in enumerate(value) for p in _descend(v, item, (*path, i))]
    if origin in (typing.Union, _UnionType):
        arms = [a for a in typing.get_args(annotation) if a is not type(None)]
        for arm in arms:
            base = typing.get_args(arm)[0] if typing.get_origin(arm) is typing.Annotated else arm
            if isinstance(value, list) and typing.get_origin(base) is list:
                return _descend(value, arm, path)
            if isinstance(value, (dict, str)) and _holds_component(arm):
                return _descend(value, arm, path)
            if isinstance(value, dict) and isinstance(base, type) and issubclass(base, BaseModel):
                return _descend(value, arm, path)
        return []
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return walk(value, annotation, path)
    return []


def _holds_component(annotation: Any) -> bool:
    return typing.get_origin(annotation) is typing.Annotated and any(
        isinstance(m, ComponentKind) for m in typing.get_args(annotation)[1:])


def _descend_tagged(value: Any, union: Any, discriminator: Discriminator, path: Path) -> list[Problem]:
    tag = discriminator.discriminator(value) if callable(discriminator.discriminator) else None
    for arm in typing.get_args(union):
        base, *metadata = typing.get_args(arm)
        if any(isinstance(m, Tag) and m.tag == tag for m in metadata):
            return walk(value, base, path)
    return []


_UnionType = type(int | str)


# ---------------------------------------------------------------------------
# Pass 2: pydantic's errors, in recipe terms
# ---------------------------------------------------------------------------

def pydantic_problems(err: ValidationError, raw: Any, prefix: Path) -> list[Problem]:
    """Translate pydantic errors into problems with recipe key paths."""
    grouped: dict[Path, list[dict[str, Any]]] = {}
    for error in _arms_that_took_the_value(err.errors(include_url=False), raw):
        if error["type"] == "extra_forbidden":
            continue  # pass 1 reports unknown keys, with what is allowed
        path = _data_path(error["loc"], raw, missing=error["type"] == "missing")
        grouped.setdefault((*prefix, *path), []).append(error)
    problems = []
    for path, errors in grouped.items():
        problems.append(_problem(path, errors))
    return problems


def _arms_that_took_the_value(errors: list[dict[str, Any]], raw: Any) -> list[dict[str, Any]]:
    """Drop the complaints of union arms that never looked inside the value, when another arm did.

    Pydantic reports every arm of a union: for `qat: {ema_decay: 5}` against `QAT | bool`,
    the QAT arm's `ema_decay` error (location `compression.qat.QAT.ema_decay`) and the bool
    arm's "input should be a valid boolean" (`compression.qat.bool`). The second says
    nothing about the mapping the user wrote, so an error located at an arm (a location
    part that is no key of the data) is dropped when an error of another arm at the same
    place reaches inside the value.
    """
    def arm(loc: tuple[Any, ...]) -> tuple[tuple[Any, ...], Any] | None:
        """`(place, arm tag)` of the first location part that is no key of the data, or None."""
        node = raw
        for index, part in enumerate(loc):
            if isinstance(node, dict) and part in node:
                node = node[part]
            elif isinstance(node, list) and isinstance(part, int) and part < len(node):
                node = node[part]
            else:
                return (loc[:index], part) if isinstance(node, (dict, list)) else None
        return None

    inside = {(place, tag) for e in errors if (found := arm(e["loc"])) is not None
              for place, tag in [found] if len(e["loc"]) > len(place) + 1}

    def mismatched(error: dict[str, Any]) -> bool:
        found = arm(error["loc"])
        if found is None or len(error["loc"]) != len(found[0]) + 1:
            return False
        return any(place == found[0] and tag != found[1] for place, tag in inside)

    return [error for error in errors if not mismatched(error)]


def _data_path(loc: tuple[Any, ...], raw: Any, *, missing: bool) -> Path:
    """Drop the parts of a pydantic location that are not keys of the data (union tags, types)."""
    path: list[str | int] = []
    node = raw
    for index, part in enumerate(loc):
        last = index == len(loc) - 1
        if isinstance(node, dict) and part in node:
            path.append(part)
            node = node[part]
        elif isinstance(node, list) and isinstance(part, int) and part < len(node):
            path.append(part)
            node = node[part]
        elif last and missing and isinstance(node, dict) and isinstance(part, str):
            path.append(part)  # the missing key itself
    return tuple(path)


def _problem(path: Path, errors: list[dict[str, Any]]) -> Problem:
    first = errors[0]
    if first["type"] == "missing":
        return Problem(path, "required key is missing", has_received=False,
                       allowed=_missing_hint(path))
    if first["type"] in ("union_tag_invalid", "union_tag_not_found"):
        expected = first.get("ctx", {}).get("expected_tags", "")
        choices = [c.strip(" '") for c in re.split(r",| or ", expected) if c.strip(" '")]
        label = {"data": "source", "model": "architecture"}.get(str(path[-1]) if path else "", "type")
        given = first["input"]
        choices = choices or list(TAG_CHOICES.get(label, ()))
        if isinstance(given, dict) and label not in given:
            typos = [k for k in given if isinstance(k, str) and did_you_mean(k, [label])]
            if typos:
                return Problem((*path, typos[0]), f"unknown key; `{label}` is missing",
                               received=given[typos[0]], suggestions=[label],
                               allowed=f"`{label}:` naming one of: {', '.join(choices)}")
            return Problem((*path, label), "required key is missing", has_received=False,
                           allowed=choices)
        received = given.get(label) if isinstance(given, dict) else given
        path = (*path, label) if isinstance(first["input"], dict) and label in first["input"] else path
        return Problem(path, f"unknown or missing `{label}`", received=received, allowed=choices,
                       suggestions=did_you_mean(received, choices))
    if {e["type"] for e in errors} <= {"literal_error", "bool_type"}:
        # A yes/no field (`Flag`), a Literal, or both (`jit_compile: true | false | auto`).
        allowed = ["true", "false"] if any(e["type"] == "bool_type" for e in errors) else []
        for error in errors:
            if error["type"] == "literal_error":
                choices = re.findall(r"'([^']*)'|(\d+)", error.get("ctx", {}).get("expected", ""))
                allowed += [a or b for a, b in choices]
        return Problem(path, "not an allowed value", received=first["input"], allowed=allowed,
                       suggestions=did_you_mean(first["input"], allowed))
    given = first["input"]
    if isinstance(given, dict) and "type" not in given and MISSING_TYPE in first["msg"]:
        typos = [k for k in given if isinstance(k, str) and did_you_mean(k, ["type"])]
        if typos:  # `{tye: adam}`: name the misspelled key, as for `source` and `architecture`
            return Problem((*path, typos[0]), f"unknown key; {MISSING_TYPE}",
                           received=given[typos[0]], suggestions=["type"],
                           allowed="`type:` naming a registered component (`kerasopt list --components`)")
    messages = []
    for error in errors:
        message = _lower_first(error["msg"].removeprefix("Value error, "))
        if message not in messages:
            messages.append(message)
    return Problem(path, "; or ".join(messages), received=first["input"])


TAG_CHOICES = {"source": sorted(DATA_CLASSES), "architecture": ARCHITECTURES}


def _missing_hint(path: Path) -> str | None:
    hints = {
        ("data",): "a data section, e.g. `data: {source: mnist1d}`",
        ("model",): "a model section, e.g. `model: {architecture: mlp}`",
    }
    return hints.get(path)


def _lower_first(text: str) -> str:
    return text[:1].lower() + text[1:] if text else text


def _dedupe(problems: list[Problem]) -> list[Problem]:
    seen: set[tuple[Path, str]] = set()
    out = []
    for problem in problems:
        key = (problem.path, problem.message)
        if key not in seen:
            seen.add(key)
            out.append(problem)
    return out


def _locate(problem: Problem, positions: dict[Path, Location]) -> Problem:
    path = problem.path
    while path and path not in positions:
        path = path[:-1]
    location = positions.get(path)
    if location is None:
        return problem
    return Problem(problem.path, problem.message, problem.received, problem.allowed,
                   problem.suggestions, location, problem.has_received)


def _file_order(problem: Problem) -> tuple[str, int, int]:
    loc = problem.location
    if loc is None:
        return ("~", 0, 0)
    return (loc.source, loc.line or 0, loc.column or 0)
