"""Load YAML safely while remembering the line and column of every key path."""

from __future__ import annotations

from typing import Any

import yaml

from kerasopt.recipe.errors import Location, Path, Problem


class _UniqueKeyLoader(yaml.SafeLoader):
    """`yaml.SafeLoader` (no Python objects), composing nodes so positions survive."""


def load_yaml(text: str, source: str) -> tuple[Any, dict[Path, Location]]:
    """Parse YAML text with `SafeLoader` and map each key path to its position.

    Args:
        text: The YAML document.
        source: A file name for messages.

    Returns:
        The plain data (dicts, lists, scalars) and a `{path: Location}` map; a path's
        location is where its key (or list item) is written.

    Raises:
        RecipeError-compatible `Problem` via `YamlProblem` for syntax errors and
        duplicate keys.
    """
    loader = _UniqueKeyLoader(text)
    try:
        node = loader.get_single_node()
        if node is None:
            return None, {}
        positions: dict[Path, Location] = {}
        problems: list[Problem] = []
        _walk(node, (), source, positions, problems)
        if problems:
            raise YamlProblem(problems)
        data = loader.construct_document(node)
    except yaml.MarkedYAMLError as err:
        mark = err.problem_mark or err.context_mark
        where = Location(source, mark.line + 1, mark.column + 1) if mark else Location(source)
        detail = " ".join(str(x) for x in (err.context, err.problem) if x)
        raise YamlProblem([Problem((), f"YAML syntax error: {detail}", location=where,
                                   has_received=False)]) from None
    except yaml.YAMLError as err:
        raise YamlProblem([Problem((), f"YAML error: {err}", location=Location(source),
                                   has_received=False)]) from None
    finally:
        loader.dispose()
    return data, positions


class YamlProblem(Exception):
    """YAML could not be read; carries the problems for a RecipeError."""

    def __init__(self, problems: list[Problem]) -> None:
        self.problems = problems
        super().__init__("; ".join(p.message for p in problems))


def _walk(node: yaml.Node, path: Path, source: str, positions: dict[Path, Location],
          problems: list[Problem]) -> None:
    if isinstance(node, yaml.MappingNode):
        seen: dict[Any, Location] = {}
        for key_node, value_node in node.value:
            key = key_node.value
            if key_node.tag == "tag:yaml.org,2002:int":
                key = int(key)
            where = Location(source, key_node.start_mark.line + 1, key_node.start_mark.column + 1)
            if key in seen:
                problems.append(Problem(
                    (*path, key), f"duplicate key (first written at line {seen[key].line})",
                    location=where, has_received=False))
            seen[key] = where
            positions[(*path, key)] = where
            _walk(value_node, (*path, key), source, positions, problems)
    elif isinstance(node, yaml.SequenceNode):
        for index, item in enumerate(node.value):
            positions[(*path, index)] = Location(
                source, item.start_mark.line + 1, item.start_mark.column + 1)
            _walk(item, (*path, index), source, positions, problems)
