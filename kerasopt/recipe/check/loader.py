"""Load a recipe: read YAML safely, apply `extends` and `KEY=VALUE` overrides, validate.

Every mistake is collected and raised together as one :class:`RecipeError`.
"""

from __future__ import annotations

import dataclasses
import os
import sys
from collections.abc import Sequence
from pathlib import Path as FsPath
from typing import Any

import yaml

from kerasopt.recipe.check.validate import validate
from kerasopt.recipe.errors import Location, Path, Problem, RecipeError, did_you_mean
from kerasopt.recipe.format.merge_rules import compose, deep_merge
from kerasopt.recipe.format.overrides import apply_override, ineffective_override
from kerasopt.recipe.format.overrides import parse_override as parse_override
from kerasopt.recipe.format.schema import Recipe, default_name
from kerasopt.recipe.format.shipped import shipped_names
from kerasopt.recipe.format.yaml_loader import RecipeDumper
from kerasopt.recipe.format.yaml_source import YamlProblem, load_yaml


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
        body = yaml.dump(self.resolved(), Dumper=RecipeDumper, sort_keys=False,
                         default_flow_style=False, allow_unicode=True)
        return f"{header}\n{body}"


def resolve_path(name_or_path: str) -> FsPath:
    """A recipe file from a path, or from a shipped recipe's name as `kerasopt list` prints it.

    Shipped names are paths below the recipes folder without `.yaml`
    (`schedules/warmup_cosine`); the bare file stem (`warmup_cosine`) works too while
    only one shipped recipe has it.
    """
    candidate = FsPath(name_or_path)
    if _is_file(candidate):
        return candidate
    shipped = shipped_names()
    key = name_or_path.replace("\\", "/").removesuffix(".yaml").removesuffix(".yml")
    if key in shipped:
        return shipped[key]
    by_stem: dict[str, list[str]] = {}
    for name in shipped:
        by_stem.setdefault(name.rsplit("/", 1)[-1], []).append(name)
    matches = by_stem.get(key, [])
    if len(matches) == 1:
        return shipped[matches[0]]
    where = Location(name_or_path)
    if len(matches) > 1:
        raise RecipeError([Problem((), "several shipped recipes have this name", received=name_or_path,
                                   allowed=matches, location=where)], name_or_path)
    if _exists(candidate):
        raise RecipeError([Problem((), "is not a file", received=name_or_path, location=where)],
                          name_or_path)
    close = did_you_mean(key, shipped) or [n for s in did_you_mean(key.rsplit("/", 1)[-1], by_stem)
                                           for n in by_stem[s]]
    raise RecipeError([Problem(
        (), "no such recipe file or shipped recipe", received=name_or_path,
        allowed="a path to a .yaml file, or a shipped recipe name (`kerasopt list`)",
        suggestions=close, location=where)], name_or_path)


def _is_file(path: FsPath) -> bool:
    """`path.is_file()`, False for a path the system cannot look up (a name too long, a loop)."""
    try:
        return path.is_file()
    except OSError:
        return False


def _exists(path: FsPath) -> bool:
    """`path.exists()`, False for a path the system cannot look up."""
    try:
        return path.exists()
    except OSError:
        return False


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
    applied = []
    for override in overrides:
        found = apply_override(raw, positions, override)
        problems += found
        if not found:
            applied.append(override)
    # Checked once all are applied: `stages.0.epochs=3 training.epochs=3` sets both.
    ineffective = (ineffective_override(raw, override) for override in applied)
    problems += [problem for problem in ineffective if problem is not None]
    recipe, found = validate(raw, positions)
    problems += found
    if problems or recipe is None:
        raise RecipeError(problems, str(path))
    return LoadedRecipe(recipe, path, raw, tuple(overrides))


PROGRESS_OVERRIDE = "runtime.verbose=2"
"""The override :func:`progress_overrides` adds; the resume command a run prints leaves it out."""


def typed_overrides(overrides: Sequence[str]) -> list[str]:
    """The overrides without the one :func:`progress_overrides` appended (the last, if it is there).

    A `runtime.verbose=2` typed last is dropped too, which changes nothing: `--resume`
    ignores `runtime.verbose`, and a resumed run off a terminal gets it again.

    Example:
        >>> typed_overrides(["seed=1", "runtime.verbose=2"])
        ['seed=1']
    """
    words = list(overrides)
    return words[:-1] if words and words[-1] == PROGRESS_OVERRIDE else words


def progress_overrides(loaded: LoadedRecipe, overrides: Sequence[str], stream: Any = None) -> list[str]:
    """The overrides, plus `runtime.verbose=2` when Keras's progress bar would go to a file or pipe.

    Keras's progress bar (`verbose: 1`) redraws its line with carriage returns and colour
    codes; in a log file that is noise, so output that is not a terminal gets one plain
    line per epoch instead (`kerasopt run` and every sweep trial). The override is recorded
    in the run's resolved recipe; `--resume` ignores `runtime.verbose`.

    Args:
        loaded: The recipe loaded with `overrides`.
        overrides: The `KEY=VALUE` overrides.
        stream: Where the progress goes. Defaults to `sys.stdout`.
    """
    stream = sys.stdout if stream is None else stream
    isatty = getattr(stream, "isatty", None)
    if loaded.recipe.runtime.verbose == 1 and not (isatty and isatty()):
        return [*overrides, PROGRESS_OVERRIDE]
    return list(overrides)


def _display(path: FsPath) -> str:
    """A path as messages show it: relative to the working directory when below it."""
    relative = os.path.relpath(path)
    return str(path) if relative.startswith("..") else relative


MAX_BYTES = 1_000_000
"""Largest recipe file read; recipes are a few kilobytes."""


RECIPE_SUFFIXES = (".yaml", ".yml")
"""The file names `extends:` accepts: a base recipe is a YAML file."""


def _read_bytes(path: FsPath, source: str) -> bytes:
    """The bytes of a recipe file; one larger than `MAX_BYTES` is refused before it is read.

    At most `MAX_BYTES + 1` bytes are ever read, so a huge (or sparse, or endless) file
    costs no memory and no time.
    """
    try:
        with path.open("rb") as handle:
            size = os.fstat(handle.fileno()).st_size
            data = handle.read(MAX_BYTES + 1) if size <= MAX_BYTES else b""
    except OSError as err:
        raise RecipeError([Problem((), f"cannot read the file: {err.strerror}", received=str(path),
                                   location=Location(source))], str(path)) from None
    if size > MAX_BYTES or len(data) > MAX_BYTES:
        shown = f"{size:,} bytes" if size > MAX_BYTES else f"more than {MAX_BYTES:,} bytes"
        raise RecipeError([Problem((), f"the file is {shown}; a recipe is at most {MAX_BYTES:,} "
                                   "bytes (is this a recipe?)", location=Location(source),
                                   allowed="a YAML recipe of at most 1 MB", has_received=False)],
                          str(path))
    return data


def _decode(data: bytes, source: str, name: str) -> str:
    """The text of a recipe file, which must be UTF-8 (a byte-order mark is allowed)."""
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError as err:
        before = data[: err.start].decode("utf-8", errors="replace")
        line = before.count("\n") + 1
        column = len(before) - (before.rfind("\n") + 1) + 1
        kind = "binary data" if b"\x00" in data[:1024] else "text in another encoding (latin-1?)"
        raise RecipeError([Problem(
            (), f"not UTF-8 text: byte 0x{data[err.start]:02x} cannot be decoded; this looks like {kind}",
            allowed="a YAML file saved as UTF-8", location=Location(source, line, column),
            has_received=False)], name) from None


def _read_with_extends(path: FsPath, stack: list[FsPath]) -> tuple[dict[str, Any], dict[Path, Location]]:
    source = _display(path)
    text = _decode(_read_bytes(path, source), source, str(path))
    try:
        data, positions = load_yaml(text, source)
    except YamlProblem as err:
        raise RecipeError(err.problems, str(path)) from None
    if data is None:
        data = {}
    if not isinstance(data, dict):
        # The content is not echoed: a file that is no recipe may hold anything.
        raise RecipeError([Problem((), "a recipe must be a mapping of sections "
                                   f"(name:, data:, model:, training: ...); this file holds {_kind(data)}",
                                   location=Location(source, 1, 1), has_received=False)], str(path))
    names = data.pop("extends", None)
    where = positions.get(("extends",), Location(source))
    if isinstance(names, str):
        names = [names]
    if names is None:
        names = []
    elif not isinstance(names, list) or not names or not all(isinstance(n, str) for n in names):
        raise RecipeError([Problem(("extends",), "must be the path of a base recipe, or a list of them",
                                   received=names, allowed="`extends: base.yaml` or "
                                   "`extends: [a.yaml, b.yaml]` (later ones override earlier ones)",
                                   location=where)], str(path))
    base: dict[str, Any] = {}
    base_positions: dict[Path, Location] = {}
    chain = [*stack, path.resolve()]
    for index, name in enumerate(names):
        at = positions.get(("extends", index), where) if len(names) > 1 else where
        one, one_positions = _read_with_extends(_base_path(path, name, chain, at), chain)
        one.pop("name", None)  # a recipe's name is its own, never inherited
        base = deep_merge(base, one)
        base_positions.update(one_positions)
    composed = compose(base, data)
    if composed.unmatched:
        raise RecipeError([_unmatched_delete(key_path, siblings, positions, source, bool(names))
                           for key_path, siblings in composed.unmatched], str(path))
    kept = {key: value for key, value in base_positions.items()
            if not any(key[: len(cut)] == cut for cut in composed.cut)}
    return composed.data, {**kept, **positions}


def _base_path(path: FsPath, name: str, chain: list[FsPath], where: Location) -> FsPath:
    """The file an `extends:` entry names, checked: a path relative to the recipe `path`, or
    else a shipped recipe's name (`kerasopt list`)."""
    try:
        base_path = (path.parent / name).resolve()
    except (OSError, ValueError) as err:  # a NUL byte, a symlink loop
        raise RecipeError([Problem(("extends",), f"not a usable path ({err})", received=name,
                                   allowed="the path of a base recipe", location=where)],
                          str(path)) from None
    if not _is_file(base_path) and name in (shipped := shipped_names()):
        base_path = shipped[name].resolve()
    if base_path in chain:
        cycle = " -> ".join(p.name for p in [*chain, base_path])
        raise RecipeError([Problem(("extends",), f"`extends` forms a cycle: {cycle}",
                                   received=name, location=where)], str(path))
    if base_path.suffix.lower() not in RECIPE_SUFFIXES:
        raise RecipeError([Problem(("extends",), "a base recipe must be a YAML file (its content is "
                                   "not read)", received=name,
                                   allowed=f"the path of a recipe file ending in {' or '.join(RECIPE_SUFFIXES)}",
                                   location=where)], str(path))
    if not _is_file(base_path):
        raise RecipeError([Problem(("extends",), "base recipe not found (paths are relative to "
                                   "the recipe that extends; shipped recipes go by their `kerasopt list` name)", received=name,
                                   allowed=f"an existing file; looked for {base_path}",
                                   location=where)], str(path))
    return base_path


def _unmatched_delete(key_path: Path, siblings: list[Any], positions: dict[Path, Location],
                      source: str, extends: bool) -> Problem:
    """The problem for a `!delete` that removes nothing."""
    where = positions.get(key_path, Location(source))
    if not siblings and not extends:
        reason = "`!delete` removes an inherited key, but this recipe has no `extends:`"
    elif not key_path or isinstance(key_path[-1], int):
        reason = "`!delete` removes a key of a mapping; a list item cannot be deleted"
    else:
        reason = "`!delete` removes an inherited key, but no base recipe sets it"
    shown = [str(key) for key in siblings]
    return Problem(key_path, reason, has_received=False, location=where,
                   allowed=", ".join(shown) if shown else "a key that a base recipe sets",
                   suggestions=did_you_mean(str(key_path[-1]), shown) if key_path else [])


def _kind(data: Any) -> str:
    """What a YAML document that is no mapping holds, in words (without its content)."""
    if isinstance(data, list):
        return f"a list of {len(data)} item(s)"
    if isinstance(data, str):
        return f"plain text ({len(data):,} characters)"
    return f"a single {type(data).__name__} value"
