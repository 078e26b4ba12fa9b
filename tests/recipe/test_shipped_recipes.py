"""Every shipped recipe validates, against the loader and against the published JSON Schema."""

from __future__ import annotations

import jsonschema
import pytest
import yaml

from kerasopt.recipe.check.loader import load_recipe
from kerasopt.recipe.commands.json_schema import recipe_json_schema
from kerasopt.recipe.format.shipped import recipes_dir, shipped_recipes

RECIPES = sorted(recipes_dir().rglob("*.yaml"))

pytestmark = pytest.mark.usefixtures("transfer_source_model")


def test_recipes_are_found_recursively():
    assert len(RECIPES) >= 4
    assert shipped_recipes() == [p for p in RECIPES if not p.name.startswith("_")]


@pytest.mark.parametrize("path", RECIPES, ids=lambda p: p.stem)
def test_shipped_recipe_validates(path):
    loaded = load_recipe(str(path))
    assert loaded.recipe.description, "every shipped recipe has a one-line description"


@pytest.mark.parametrize("path", RECIPES, ids=lambda p: p.stem)
def test_shipped_recipe_opens_with_purpose_and_command(path):
    head = path.read_text().splitlines()[:8]
    assert head[0].startswith("# "), "the first line states the recipe's purpose"
    if not path.name.startswith("_"):  # `_base.yaml` files are only extended, never run
        assert any(line.startswith("#   kerasopt run") for line in head), "the exact command is given"


def test_schema_is_valid_json_schema():
    jsonschema.Draft202012Validator.check_schema(recipe_json_schema())


@pytest.mark.parametrize("path", RECIPES, ids=lambda p: p.stem)
def test_schema_accepts_shipped_recipe(path):
    data = yaml.safe_load(path.read_text())
    if "extends" in data:  # a child holds only what it changes: check it merged with its base
        data = load_recipe(str(path)).raw
    jsonschema.validate(data, recipe_json_schema())


def test_schema_rejects_unknown_keys_and_bad_enums():
    validator = jsonschema.Draft202012Validator(recipe_json_schema())
    base = {"name": "x", "data": {"source": "digits"}, "model": {"architecture": "mlp"}}
    assert validator.is_valid(base)
    assert not validator.is_valid({**base, "trainin": {}})
    assert not validator.is_valid({**base, "runtime": {"device": "gpu2"}})
