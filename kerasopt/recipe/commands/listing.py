"""`kerasopt list`: shipped recipes with their one-line descriptions, or registered components."""

from __future__ import annotations

import sys

import yaml

from kerasopt.recipe.format.shipped import recipes_dir, shipped_names
from kerasopt.recipe.format.yaml_loader import RecipeLoader
from kerasopt.registry import KINDS
from kerasopt.registry_cache import load_table


def print_recipes() -> int:
    """Print each shipped recipe's name and description; exit status 0."""
    recipes = shipped_names()
    width = max(map(len, recipes), default=0)
    for name, path in recipes.items():
        try:
            data = yaml.load(path.read_text(encoding="utf-8"), Loader=RecipeLoader) or {}
        except (yaml.YAMLError, UnicodeDecodeError):
            data = {"description": "(unreadable: run `kerasopt validate` on it)"}
        description = data.get("description", "") if isinstance(data, dict) else ""
        print(f"{name:<{width}}  {description}")
    print(f"\n{len(recipes)} recipes in {recipes_dir()}. Run one with: kerasopt run <name>")
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
