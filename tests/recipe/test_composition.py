"""Recipe composition: `extends:` lists, `!delete` and `!replace` (issue 23, item 5)."""

from __future__ import annotations

import jsonschema
import pytest

from kerasopt.cli import main
from kerasopt.recipe.check.loader import load_recipe
from kerasopt.recipe.commands.json_schema import recipe_json_schema
from kerasopt.recipe.errors import RecipeError, format_path

LAYERS_BASE = """\
data: {source: digits}
model:
  layers:
    - {type: dense, units: 8}
training: {epochs: 3, optimizer: {type: sgd, momentum: 0.9}}
"""


def test_a_list_of_bases_merges_in_order_and_the_recipe_last(write):
    write("data: {source: digits}\nmodel: {architecture: mlp, units: [8]}\n"
          "training: {epochs: 3, optimizer: {type: sgd, momentum: 0.9}}\n", "first.yaml")
    write("training: {epochs: 5, optimizer: {learning_rate: 0.2}}\n", "second.yaml")
    recipe = load_recipe(write("extends: [first.yaml, second.yaml]\nname: child\n"
                               "training: {optimizer: {momentum: 0.5}}\n")).recipe
    assert recipe.training.epochs == 5  # set in both bases: the later one wins
    assert recipe.training.optimizer == {"type": "sgd", "momentum": 0.5, "learning_rate": 0.2}
    swapped = load_recipe(write("extends: [second.yaml, first.yaml]\n", "swapped.yaml")).recipe
    assert swapped.training.epochs == 3
    assert swapped.training.optimizer["momentum"] == 0.9


def test_delete_drops_inherited_layers_for_a_built_in_architecture(write):
    write(LAYERS_BASE, "base.yaml")
    loaded = load_recipe(write("extends: base.yaml\nmodel:\n  layers: !delete\n"
                               "  architecture: cnn\n"))
    assert loaded.raw["model"] == {"architecture": "cnn"}
    assert loaded.recipe.model.architecture == "cnn"
    assert loaded.recipe.training.optimizer == {"type": "sgd", "momentum": 0.9}


def test_replace_takes_the_mapping_as_written(write):
    write(LAYERS_BASE, "base.yaml")
    loaded = load_recipe(write("extends: base.yaml\nmodel: !replace {architecture: mlp, units: [4]}\n"))
    assert loaded.raw["model"] == {"architecture": "mlp", "units": [4]}
    assert loaded.recipe.training.epochs == 3


def test_positions_point_into_the_file_each_key_comes_from(write):
    write("data: {source: digits}\nmodel: {architecture: mlp, units: [8]}\n"
          "training: {epochs: -1}\n", "first.yaml")
    write("\n\ntraining:\n  optimizer: {type: adamm}\n", "second.yaml")
    with pytest.raises(RecipeError) as info:
        load_recipe(write("extends: [first.yaml, second.yaml]\nname: child\n"))
    where = {format_path(p.path): (p.location.source.rsplit("/", 1)[-1], p.location.line)
             for p in info.value.problems}
    assert where["training.epochs"] == ("first.yaml", 3)
    assert where["training.optimizer"] == ("second.yaml", 4)


def test_positions_of_a_replaced_mapping_are_the_derived_files(write):
    write(LAYERS_BASE, "base.yaml")
    with pytest.raises(RecipeError) as info:
        load_recipe(write("extends: base.yaml\n\nmodel: !replace\n  architecture: mlp\n"
                          "  units: [4]\n  dropout: 2\n"))
    (problem,) = info.value.problems
    assert format_path(problem.path) == "model.dropout"
    assert problem.location.source.endswith("recipe.yaml") and problem.location.line == 6


def test_a_missing_base_in_a_list_names_its_entry(write):
    write(LAYERS_BASE, "base.yaml")
    with pytest.raises(RecipeError, match="base recipe not found") as info:
        load_recipe(write("extends:\n  - base.yaml\n  - nowhere.yaml\n"))
    (problem,) = info.value.problems
    assert problem.received == "nowhere.yaml" and problem.location.line == 3


def test_a_cycle_through_a_list_is_an_error(write):
    write(LAYERS_BASE, "base.yaml")
    first = write("extends: [base.yaml, b.yaml]\n", "a.yaml")
    write("extends: a.yaml\n", "b.yaml")
    with pytest.raises(RecipeError, match=r"cycle: a.yaml -> b.yaml -> a.yaml") as info:
        load_recipe(first)
    assert info.value.problems[0].location.source.endswith("b.yaml")


def test_a_shared_base_is_no_cycle(write):
    write("data: {source: digits}\nmodel: {architecture: mlp, units: [8]}\ntraining: {epochs: 3}\n",
          "common.yaml")
    write("extends: common.yaml\ntraining: {epochs: 4}\n", "left.yaml")
    write("extends: common.yaml\nmodel: {dropout: 0.5}\n", "right.yaml")
    recipe = load_recipe(write("extends: [left.yaml, right.yaml]\n")).recipe
    assert recipe.training.epochs == 3  # right.yaml brings common.yaml's epochs back over left's
    assert recipe.model.dropout == 0.5


def test_deleting_a_key_no_base_sets_is_exit_2_naming_it(write, capsys):
    write(LAYERS_BASE, "base.yaml")
    path = write("extends: base.yaml\nmodel:\n  layesr: !delete\n")
    assert main(["validate", path]) == 2
    err = capsys.readouterr().err
    assert "recipe.yaml:3:3: model.layesr: `!delete` removes an inherited key, but no base " \
           "recipe sets it" in err
    assert "did you mean: layers?" in err and "Traceback" not in err


@pytest.mark.parametrize(("text", "message"), [
    ("model:\n  layers: !delete\n", "this recipe has no `extends:`"),
    ("extends: base.yaml\nmodel: !delete x\n", "`!delete` stands alone"),
    ("extends: base.yaml\nmodel: {layers: !replace [1]}\n", "`!replace` applies to a mapping"),
    ("extends: [base.yaml, 3]\n", "a list of them"),
])
def test_misused_markers_are_refused(write, text, message):
    write(LAYERS_BASE, "base.yaml")
    with pytest.raises(RecipeError, match=message):
        load_recipe(write(text))


def test_a_shipped_recipe_is_a_base_by_its_listed_name(write):
    loaded = load_recipe(write("extends: [quickstart]\ntraining: {epochs: 2}\n"))
    shipped = load_recipe("quickstart").recipe
    assert loaded.recipe.name == "recipe"  # the name is never inherited
    assert loaded.recipe.training.epochs == 2
    assert loaded.recipe.model == shipped.model


def test_the_json_schema_takes_a_list_of_bases():
    schema = recipe_json_schema()
    jsonschema.validate({"extends": ["a.yaml", "quickstart"]}, schema)
    with pytest.raises(jsonschema.ValidationError):
        jsonschema.validate({"extends": []}, schema)


def test_an_override_cannot_delete(write):
    write(LAYERS_BASE, "base.yaml")
    with pytest.raises(RecipeError, match="`!delete` and `!replace` work in recipe files"):
        load_recipe(write("extends: base.yaml\n"), ["model.layers=!delete"])
