"""`KEY=VALUE` overrides from the command line: parse, apply, and refuse those that can't take effect.

An override's value is read as a recipe value is (YAML 1.2: `training.optimizer.learning_rate=1e-3`
is a float). An override that would be silently ignored is an error naming what to write
instead: `training.epochs=3` on a recipe whose every stage sets its own length, or
`stages.0.training.epochs=3` on a stage that sets `epochs` itself.
"""

from __future__ import annotations

from typing import Any

import yaml

from kerasopt.recipe.errors import Location, Path, Problem
from kerasopt.recipe.format.yaml_loader import parse_value

LENGTH_KEYS = ("epochs", "steps")
STAGED_SECTIONS = ("training", "compression")
"""Top-level sections a stage can override key by key (`stages[i].training`, ...)."""


def parse_override(override: str) -> tuple[Path, Any]:
    """Split `training.optimizer.learning_rate=0.01` into a key path and a YAML-typed value.

    Example:
        >>> parse_override("training.optimizer.learning_rate=1e-3")
        (('training', 'optimizer', 'learning_rate'), 0.001)
        >>> parse_override("stages[1].epochs=2")
        (('stages', 1, 'epochs'), 2)
    """
    key, sep, text = override.partition("=")
    if not sep or not key.strip():
        raise ValueError("expected KEY=VALUE, e.g. training.epochs=3")
    parts: list[str | int] = []
    for part in key.strip().replace("[", ".").replace("]", "").split("."):
        if not part:
            raise ValueError(f"empty key part in {key!r}")
        parts.append(int(part) if part.isdigit() else part)
    try:
        value = parse_value(text) if text.strip() else None
    except yaml.YAMLError as err:
        detail = " ".join(str(x) for x in (getattr(err, "context", None), getattr(err, "problem", None)) if x)
        if text.strip().startswith(("!delete", "!replace")):
            raise ValueError("`!delete` and `!replace` work in recipe files (under `extends:`); "
                             "an override sets a value") from None
        raise ValueError(f"the value is not valid YAML: {detail or err}") from None
    return tuple(parts), value


def apply_override(raw: dict[str, Any], positions: dict[Path, Location], override: str) -> list[Problem]:
    """Set one override into the recipe data in place; return problems instead of raising."""
    where = Location(f"override '{override}'")
    try:
        path, value = parse_override(override)
    except ValueError as err:
        return [Problem((), str(err), received=override, location=where)]
    if path[0] == "extends":
        return [Problem(path, "`extends` cannot be overridden: it is read before overrides apply",
                        received=value, allowed="write `extends:` in the recipe file", location=where)]
    node: Any = raw
    for depth, part in enumerate(path):
        if isinstance(node, list) and (not isinstance(part, int) or part >= len(node)):
            return [Problem(path[: depth + 1],
                            f"list index out of range (the list has {len(node)} items)",
                            received=part, location=where)]
        if depth == len(path) - 1:
            break
        child = node.get(part) if isinstance(node, dict) else node[part]
        if child is None and isinstance(node, dict):
            child = node[part] = {}
        elif isinstance(child, str) and isinstance(node, dict):
            child = node[part] = {"type": child}  # a component given by name gains arguments
        if not isinstance(child, (dict, list)):
            return [Problem(path[: depth + 1], "cannot set a key inside this value", received=child,
                            location=where)]
        node = child
    node[path[-1]] = value
    for depth in range(1, len(path)):
        positions.setdefault(path[:depth], where)
    positions[path] = where
    return []


def ineffective_override(raw: dict[str, Any], override: str) -> Problem | None:
    """A problem if an (applied, well-formed) override cannot change the run; else None.

    Args:
        raw: The recipe data with every override applied.
        override: The `KEY=VALUE` text.
    """
    path, _ = parse_override(override)
    text = override.partition("=")[2].strip()
    stages = raw.get("stages")
    if not isinstance(stages, list) or not all(isinstance(s, dict) for s in stages):
        return None
    where = Location(f"override '{override}'")
    if len(path) == 4 and path[0] == "stages" and path[2] == "training" and path[3] in LENGTH_KEYS:
        stage = stages[path[1]] if isinstance(path[1], int) and path[1] < len(stages) else {}
        own = [k for k in LENGTH_KEYS if stage.get(k) is not None]
        if own:
            fix = [f"stages.{path[1]}.{path[3]}={text}"]
            fix += [f"stages.{path[1]}.{k}=null" for k in own if k != path[3]]
            return Problem(path, f"has no effect: stage {path[1]} sets `{own[0]}` itself, "
                           "which decides its length", received=_value(text),
                           allowed="write instead: " + " ".join(fix), location=where)
        return None
    if len(path) < 2 or path[0] not in STAGED_SECTIONS or not stages:
        return None
    shadows = [_shadowed_by(stage, path) for stage in stages]
    if any(s is None for s in shadows):
        return None  # at least one stage uses the top-level value
    fixes = []
    for index, (stage, shadow) in enumerate(zip(stages, shadows, strict=True)):
        if path[1] in LENGTH_KEYS and shadow[0] in LENGTH_KEYS:
            fixes.append(f"stages.{index}.{path[1]}={text}")
            fixes += [f"stages.{index}.{k}=null" for k in LENGTH_KEYS
                      if k != path[1] and stage.get(k) is not None]
        else:
            fixes.append(".".join(str(p) for p in ("stages", index, *path)) + f"={text}")
    shown = ", ".join(".".join(str(p) for p in ("stages", i, *s)) for i, s in enumerate(shadows))
    return Problem(path, f"has no effect: every stage sets it itself ({shown})",
                   received=_value(text), allowed="set it per stage: " + " ".join(fixes),
                   location=where)


def _shadowed_by(stage: dict[str, Any], path: Path) -> Path | None:
    """The key path inside `stage` that replaces the top-level value at `path`, if any."""
    section, rest = path[0], path[1:]
    if section == "training" and rest[0] in LENGTH_KEYS:
        for key in LENGTH_KEYS:
            if stage.get(key) is not None:
                return (key,)
    node = stage.get(section)
    prefix: Path = (section,)
    for depth, part in enumerate(rest):
        if not isinstance(node, dict) or part not in node:
            return None
        prefix = (*prefix, part)
        node = node[part]
        if depth == len(rest) - 1 or not isinstance(node, dict):
            return prefix  # set here, or replaced wholesale (lists and names are not merged)
    return None


def _value(text: str) -> Any:
    try:
        return parse_value(text) if text else None
    except yaml.YAMLError:
        return text
