"""The keys a sweep varies: checked against the resolved recipe, turned into `KEY=VALUE` overrides."""

from __future__ import annotations

import itertools
from collections.abc import Mapping, Sequence
from typing import Any

from kerasopt.recipe.check.loader import LoadedRecipe, load_recipe, parse_override
from kerasopt.recipe.errors import Location, Path, Problem, RecipeError, did_you_mean, format_path
from kerasopt.recipe.format.sweep_distribution import SYNTAX, Distribution, yaml_text

# Beyond this many combinations of choices, each choice is validated on its own.
MAX_VALIDATED_POINTS = 256


class SearchSpace:
    """Named distributions over recipe keys.

    Args:
        params: Dotted recipe key (`training.optimizer.learning_rate`) -> distribution.

    Raises:
        ValueError: When `params` is empty.

    Example:
        >>> space = SearchSpace.parse(["training.epochs=int(1,3)", "data.batch_size=choice(16,32)"])
        >>> space.grid() is None, str(space.params["data.batch_size"])
        (True, 'choice(16,32)')
    """

    def __init__(self, params: Mapping[str, Distribution]) -> None:
        if not params:
            raise ValueError("a sweep needs at least one parameter. Received: params={} "
                             "(give --param KEY=DIST or a recipe `sweep.params` section)")
        self.params = dict(params)

    @classmethod
    def parse(cls, texts: Sequence[str], source: str = "--param") -> SearchSpace:
        """Read `KEY=DIST` strings.

        Raises:
            RecipeError: Naming each text that is not `KEY=DIST`, with the syntax.
        """
        params: dict[str, Distribution] = {}
        problems = []
        for text in texts:
            key, sep, dist = text.partition("=")
            where = Location(f"{source} '{text}'")
            try:
                if not sep or not key.strip():
                    raise ValueError(f"expected KEY=DIST, e.g. training.epochs=int(1,5); DIST is {SYNTAX}")
                parse_override(f"{key.strip()}=0")  # the key's syntax, as overrides read it
                params[key.strip()] = Distribution.parse(dist)
            except ValueError as err:
                problems.append(Problem((), str(err), received=text, location=where))
        if problems:
            raise RecipeError(problems, source)
        return cls(params)

    def grid(self) -> dict[str, list[Any]] | None:
        """The grid of a grid search (every param a choice), or None."""
        grids = {key: dist.grid for key, dist in self.params.items()}
        if any(values is None for values in grids.values()):
            return None
        return {key: list(values) for key, values in grids.items()}

    def check_keys(self, loaded: LoadedRecipe) -> list[Problem]:
        """A problem (with did-you-mean) for every key that the resolved recipe does not have.

        A new argument of a component (`training.optimizer.beta_1` when the recipe gives only
        `type: adam`) is allowed here; validating the trial recipes checks that it exists.
        """
        resolved = loaded.resolved()
        problems = []
        for key in self.params:
            path, _ = parse_override(f"{key}=0")
            if path[0] == "sweep":
                problems.append(Problem(path, "a sweep cannot vary its own `sweep` section",
                                        received=key, location=Location(f"--param {key}")))
                continue
            problem = _missing_key(resolved, path)
            if problem is not None:
                problems.append(Problem(*problem, location=Location(f"--param {key}")))
        return problems

    def overrides(self, loaded: LoadedRecipe, values: Mapping[str, Any]) -> list[str]:
        """The `KEY=VALUE` overrides that put `values` into the recipe.

        A component the recipe leaves at its default (`training.optimizer` -> `{type: adam}`)
        is written out first, so that setting one of its arguments keeps its type.
        """
        resolved = loaded.resolved()
        out: list[str] = []
        for key in values:
            path, _ = parse_override(f"{key}=0")
            for depth in range(1, len(path)):
                prefix = path[:depth]
                if _lookup(loaded.raw, prefix) is not None:
                    continue
                default = _lookup(resolved, prefix)
                type_key = format_path((*prefix, "type"))
                if isinstance(default, dict) and "type" in default and type_key not in values:
                    fill = f"{type_key}={yaml_text(default['type'])}"
                    if fill not in out:
                        out.append(fill)
        return out + [f"{key}={yaml_text(value)}" for key, value in values.items()]

    def corner_points(self) -> list[dict[str, Any]]:
        """Values to validate before a sweep: every combination of choices with each range at
        its low and at its high end (each choice on its own beyond `MAX_VALIDATED_POINTS`)."""
        keys = list(self.params)
        corners = [self.params[k].corners() for k in keys]
        total = 1
        for values in corners:
            total *= len(values)
        if total <= MAX_VALIDATED_POINTS:
            ranges = [k for k in keys if self.params[k].kind != "choice"]
            points = []
            for combo in itertools.product(*corners):
                point = dict(zip(keys, combo, strict=True))
                # Ranges go together to their low, then to their high, end.
                if all(point[k] == self.params[k].low for k in ranges) or \
                        all(point[k] == self.params[k].high for k in ranges):
                    points.append(point)
            return points
        first = {k: c[0] for k, c in zip(keys, corners, strict=True)}
        return [{**first, k: v} for k, values in zip(keys, corners, strict=True) for v in values]

    def validate_points(self, loaded: LoadedRecipe, overrides: Sequence[str]) -> None:
        """Load the recipe at every corner point; raise the first point's problems.

        Raises:
            RecipeError: Naming the point (its `KEY=VALUE` settings) whose recipe is invalid.
        """
        for point in self.corner_points():
            trial = self.overrides(loaded, point)
            try:
                load_recipe(str(loaded.path), [*overrides, *trial])
            except RecipeError as err:
                setting = " ".join(f"{k}={yaml_text(v)}" for k, v in point.items())
                raise RecipeError(err.problems, f"{err.source} (sweep point {setting})") from None


def _lookup(data: Any, path: Path) -> Any:
    node = data
    for part in path:
        if isinstance(node, dict) and part in node:
            node = node[part]
        elif isinstance(node, list) and isinstance(part, int) and part < len(node):
            node = node[part]
        else:
            return None
    return node


def _missing_key(resolved: dict[str, Any], path: Path) -> tuple[Path, str, Any, Any, list[str]] | None:
    """(path, message, received, allowed, suggestions) when `path` does not exist; else None."""
    node: Any = resolved
    for depth, part in enumerate(path):
        last = depth == len(path) - 1
        if isinstance(node, dict):
            if part in node:
                node = node[part]
                continue
            if last and "type" in node:
                return None  # a component argument: validation checks the component accepts it
            if depth >= 2 and path[0] == "stages" and path[2] == "training":
                return _missing_key(resolved, ("training", *path[3:]))
            keys = sorted(str(k) for k in node)
            return (path[: depth + 1], "no such key in the recipe", format_path(path), keys,
                    did_you_mean(str(part), keys))
        if isinstance(node, list):
            if isinstance(part, int) and part < len(node):
                node = node[part]
                continue
            return (path[: depth + 1], f"list index out of range (the list has {len(node)} items)",
                    format_path(path), None, [])
        if node is None:
            return None  # an optional section left out (`export.tflite`): validation decides
        return (path[:depth], "cannot set a key inside this value", node, None, [])
    return None
