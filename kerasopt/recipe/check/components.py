"""Check component specs (`{type: adam, learning_rate: 0.01}`) against the registry's signature table.

Runs without importing Keras: it reads `kerasopt/registry_table.json`, which is generated
from the live registry (see :mod:`kerasopt.registry`), or, with another Keras version
installed, the table generated for that version and cached (:mod:`kerasopt.registry_cache`).
"""

from __future__ import annotations

import functools
from typing import Any

from kerasopt.recipe.check.argument_rules import check_value
from kerasopt.recipe.errors import Path, Problem, did_you_mean
from kerasopt.registry import KIND_TABLE, canonical, nested_kind
from kerasopt.registry_cache import current_table

# Values a recipe may give that the runner resolves before building the component.
RUNNER_VALUES = {("optimizer", "learning_rate"): ("auto",)}
# Kinds that an argument may name with a plain string (`kernel_initializer: he_normal`).
NAMED_BY_STRING = tuple(k.name for k in KIND_TABLE if k.by_string)


@functools.lru_cache(maxsize=1)
def table() -> dict[str, Any]:
    """The signature table of the installed Keras, read once per process."""
    return current_table()


def entry(kind: str, name: str) -> dict[str, Any] | None:
    """The table entry of a component, or None."""
    return table()["kinds"][kind].get(canonical(name))


def display_names(kind: str) -> list[str]:
    """Every name a recipe can use for this kind (as the table displays them)."""
    return sorted(e["name"] for e in table()["kinds"][kind].values())


def check_component(kind: str, spec: Any, path: Path) -> list[Problem]:
    """Every problem with one component spec (name, argument names, argument types, nesting).

    Args:
        kind: The component kind expected at `path`.
        spec: A name or a mapping with `type` and arguments.
        path: Where the spec sits in the recipe.
    """
    if isinstance(spec, str):
        spec = {"type": spec}
    if not isinstance(spec, dict) or not isinstance(spec.get("type"), str):
        return []  # the schema reports the shape error
    name = spec["type"]
    found = entry(kind, name)
    if found is None:
        entries = table()["kinds"][kind]
        close = did_you_mean(canonical(name), entries)
        return [Problem((*path, "type") if len(spec) > 1 else path, f"unknown {kind} {name!r}",
                        received=name, allowed=f"any registered {kind} (`kerasopt list --components {kind}`)",
                        suggestions=[entries[c]["name"] for c in close])]
    return _check_arguments(kind, found, spec, path)


def _check_arguments(kind: str, found: dict[str, Any], spec: dict[str, Any], path: Path) -> list[Problem]:
    params = {p["name"]: p for p in found["params"]}
    problems: list[Problem] = []
    for arg, value in spec.items():
        if arg == "type":
            continue
        where = (*path, arg)
        param = params.get(arg)
        if param is None:
            if not found["open_kwargs"]:
                problems.append(Problem(
                    where, f"unknown argument of {kind} {found['name']!r}", received=value,
                    allowed=sorted(params), suggestions=did_you_mean(arg, params)))
            continue
        problems.extend(_check_value(kind, param, value, where))
    missing = [p["name"] for p in found["params"] if p["required"] and p["name"] not in spec]
    problems.extend(
        Problem((*path, m), f"missing required argument of {kind} {found['name']!r}",
                has_received=False)
        for m in missing)
    return problems


def _check_value(kind: str, param: dict[str, Any], value: Any, where: Path) -> list[Problem]:
    arg = param["name"]
    if isinstance(value, str) and value in RUNNER_VALUES.get((kind, arg), ()):
        return []
    inner = nested_kind(arg)
    if inner is not None and (isinstance(value, dict) and "type" in value):
        return check_component(inner, value, where)
    if inner in NAMED_BY_STRING and isinstance(value, str):
        return check_component(inner, value, where)
    if inner in NAMED_BY_STRING and isinstance(value, (bool, int, float)) and _holds_only_components(param):
        # `activation: 5`: Keras's `activations.get` (and the initializer, regularizer,
        # constraint and optimizer lookups) take a name, a spec or null, never a number.
        article = "an" if inner[0] in "aeiou" else "a"
        return [Problem(where, f"expected {article} {inner} name or a {{type: ...}} spec", received=value,
                        allowed=f"a registered {inner} name (`kerasopt list --components {inner}`), "
                                "a mapping with `type`, or null")]
    return check_value(kind, param, value, where, holds_component=inner in NAMED_BY_STRING)


def _holds_only_components(param: dict[str, Any]) -> bool:
    """Whether an argument takes nothing but a component: no annotated type, default null or a name."""
    default = param.get("default")
    return not param.get("type") and (default is None or isinstance(default, str))


def check_layer_type(name: Any, path: Path) -> list[Problem]:
    """A problem unless `name` is a Keras layer class name or a registered kerasopt layer's.

    Matched exactly (compression selects layers by class name): `conv1d` is refused with
    `Conv1D` suggested.
    """
    if not isinstance(name, str):
        return []  # the schema reports the type error
    names = display_names("layer")
    if name in names:
        return []
    return [Problem(path, "unknown layer type", received=name,
                    allowed="a Keras layer class name or a registered kerasopt layer "
                            "(`kerasopt list --components layer`), spelled as the class is",
                    suggestions=did_you_mean(name, names))]
