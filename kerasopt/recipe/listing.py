"""`kerasopt list`: shipped recipes with their one-line descriptions, or registered components."""

from __future__ import annotations

import sys

import yaml

from kerasopt.recipe.shipped import recipes_dir, shipped_recipes
from kerasopt.registry import KINDS, load_table


def print_recipes() -> int:
    """Print each shipped recipe's name and description; exit status 0."""
    recipes = shipped_recipes()
    root = recipes_dir()
    width = max((len(str(p.relative_to(root).with_suffix(""))) for p in recipes), default=0)
    for path in recipes:
        try:
            data = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
        except yaml.YAMLError:
            data = {"description": "(invalid YAML: run `kerasopt validate` on it)"}
        description = data.get("description", "") if isinstance(data, dict) else ""
        name = str(path.relative_to(root).with_suffix(""))
        print(f"{name:<{width}}  {description}")
    print(f"\n{len(recipes)} recipes in {root}. Run one with: kerasopt run <name>")
    return 0


def print_components(kind: str) -> int:
    """Print registered components of one kind (or all), with their source and summary."""
    if kind != "all" and kind not in KINDS:
        print(f"kerasopt list: unknown component kind {kind!r}; allowed: {', '.join(KINDS)}",
              file=sys.stderr)
        return 2
    table = load_table()["kinds"]
    for current in KINDS if kind == "all" else (kind,):
        entries = sorted(table[current].values(), key=lambda e: (e["source"] != "kerasopt", e["name"].lower()))
        print(f"{current} ({len(entries)}):")
        for entry in entries:
            print(f"  {entry['name']:<34} {entry['source']:<9} {entry['summary'][:70]}")
    return 0
