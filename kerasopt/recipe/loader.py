"""Load a recipe: read YAML safely, apply `extends` and `KEY=VALUE` overrides, validate.

Every mistake is collected and raised together as one :class:`RecipeError`.
"""

from __future__ import annotations

import dataclasses
import os
from collections.abc import Sequence
from pathlib import Path as FsPath
from typing import Any

import yaml

from kerasopt.recipe.errors import Location, Path, Problem, RecipeError, did_you_mean
from kerasopt.recipe.schema import Recipe, default_name
from kerasopt.recipe.shipped import shipped_recipes
from kerasopt.recipe.validate import deep_merge, validate
from kerasopt.recipe.yaml_source import YamlProblem, load_yaml


@dataclasses.dataclass(frozen=True)
class LoadedRecipe:
    """A validated recipe and where it came from.

    Attributes:
        recipe: The validated recipe, defaults filled in.
        path: The recipe file.
        raw: The merged data as written (after `extends` and overrides), before defaults.
        overrides: The `KEY=VALUE` overrides applied.
    """

    recipe: Recipe
    path: FsPath
    raw: dict[str, Any]
    overrides: tuple[str, ...] = ()

    def resolved(self) -> dict[str, Any]:
        """The fully resolved recipe (every default filled in), as plain data."""
        return self.recipe.model_dump(mode="json")

    def resolved_yaml(self) -> str:
        """The fully resolved recipe as YAML, with a header naming its source."""
        header = f"# Resolved from {self.path}"
        if self.overrides:
            header += " with overrides: " + " ".join(self.overrides)
        body = yaml.safe_dump(self.resolved(), sort_keys=False, default_flow_style=False)
        return f"{header}\n{body}"


def resolve_path(name_or_path: str) -> FsPath:
    """A recipe file from a path, or from the name of a shipped recipe (`quickstart`)."""
    candidate = FsPath(name_or_path)
    if candidate.is_file():
        return candidate
    shipped = {p.stem: p for p in shipped_recipes()}
    if name_or_path in shipped:
        return shipped[name_or_path]
    if candidate.exists():
        raise RecipeError([Problem((), "is not a file", received=name_or_path,
                                   location=Location(name_or_path))], name_or_path)
    raise RecipeError([Problem(
        (), "no such recipe file or shipped recipe", received=name_or_path,
        allowed="a path to a .yaml file, or a shipped recipe name (`kerasopt list`)",
        suggestions=did_you_mean(FsPath(name_or_path).stem, shipped),
        location=Location(name_or_path))], name_or_path)


def load_recipe(name_or_path: str, overrides: Sequence[str] = ()) -> LoadedRecipe:
    """Read, merge, override and validate a recipe.

    Args:
        name_or_path: A recipe file, or a shipped recipe's name.
        overrides: `KEY=VALUE` strings with dotted key paths; values are parsed as YAML.

    Returns:
        The loaded recipe.

    Raises:
        RecipeError: With every problem found (syntax, extends, overrides, schema, components).
    """
    path = resolve_path(name_or_path)
    raw, positions = _read_with_extends(path, [])
    raw.setdefault("name", default_name(str(path)))
    problems: list[Problem] = []
    for override in overrides:
        problems += apply_override(raw, positions, override)
    recipe, found = validate(raw, positions)
    problems += found
    if problems or recipe is None:
        raise RecipeError(problems, str(path))
    return LoadedRecipe(recipe, path, raw, tuple(overrides))


def _display(path: FsPath) -> str:
    """A path as messages show it: relative to the working directory when below it."""
    relative = os.path.relpath(path)
    return str(path) if relative.startswith("..") else relative


def _read_with_extends(path: FsPath, stack: list[FsPath]) -> tuple[dict[str, Any], dict[Path, Location]]:
    source = _display(path)
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as err:
        raise RecipeError([Problem((), f"cannot read the file: {err.strerror}", received=str(path),
                                   location=Location(source))], str(path)) from None
    try:
        data, positions = load_yaml(text, source)
    except YamlProblem as err:
        raise RecipeError(err.problems, str(path)) from None
    if data is None:
        data = {}
    if not isinstance(data, dict):
        raise RecipeError([Problem((), "a recipe must be a mapping of sections "
                                   "(name:, data:, model:, training: ...)", received=data,
                                   location=Location(source, 1, 1))], str(path))
    base_name = data.pop("extends", None)
    if base_name is None:
        return data, positions
    where = positions.get(("extends",), Location(source))
    if not isinstance(base_name, str):
        raise RecipeError([Problem(("extends",), "must be the path of a base recipe",
                                   received=base_name, location=where)], str(path))
    base_path = (path.parent / base_name).resolve()
    chain = [*stack, path.resolve()]
    if base_path in chain:
        cycle = " -> ".join(p.name for p in [*chain, base_path])
        raise RecipeError([Problem(("extends",), f"`extends` forms a cycle: {cycle}",
                                   received=base_name, location=where)], str(path))
    if not base_path.is_file():
        raise RecipeError([Problem(("extends",), "base recipe not found (paths are relative to "
                                   "the recipe that extends)", received=base_name,
                                   allowed=f"an existing file; looked for {base_path}",
                                   location=where)], str(path))
    base, base_positions = _read_with_extends(base_path, chain)
    base.pop("name", None)  # a recipe's name is its own, never inherited
    return deep_merge(base, data), {**base_positions, **positions}


def parse_override(override: str) -> tuple[Path, Any]:
    """Split `training.optimizer.learning_rate=0.01` into a key path and a YAML-typed value."""
    key, sep, text = override.partition("=")
    if not sep or not key.strip():
        raise ValueError("expected KEY=VALUE, e.g. training.epochs=3")
    parts: list[str | int] = []
    for part in key.strip().replace("[", ".").replace("]", "").split("."):
        if not part:
            raise ValueError(f"empty key part in {key!r}")
        parts.append(int(part) if part.isdigit() else part)
    try:
        value = yaml.safe_load(text) if text.strip() else None
    except yaml.YAMLError as err:
        raise ValueError(f"the value is not valid YAML: {err}") from None
    return tuple(parts), value


def apply_override(raw: dict[str, Any], positions: dict[Path, Location], override: str) -> list[Problem]:
    """Set one override into the recipe data in place; return problems instead of raising."""
    where = Location(f"override '{override}'")
    try:
        path, value = parse_override(override)
    except ValueError as err:
        return [Problem((), str(err), received=override, location=where)]
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
