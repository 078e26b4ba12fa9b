"""Loading recipes: extends, overrides, defaults and positions."""

from __future__ import annotations

import pytest
import yaml

from kerasopt.recipe.check.loader import load_recipe, parse_override
from kerasopt.recipe.errors import RecipeError, format_path
from kerasopt.recipe.format.fields import to_steps
from tests.recipe.conftest import MINIMAL


def test_minimal_recipe_gets_every_default(write):
    loaded = load_recipe(write(MINIMAL))
    resolved = loaded.resolved()
    assert resolved["training"]["optimizer"] == {"type": "adam"}
    assert resolved["data"]["batch_size"] == 32
    assert resolved["runtime"]["tensorboard"]["enabled"] is True
    assert loaded.recipe.training.length() == ("epochs", 10)


def test_name_defaults_to_the_file_name(write):
    loaded = load_recipe(write(MINIMAL.replace("name: tiny\n", ""), name="my-recipe.yaml"))
    assert loaded.recipe.name == "my-recipe"


def test_extends_deep_merges_and_child_wins(write):
    write(MINIMAL + "training:\n  epochs: 7\n  optimizer: {type: sgd, momentum: 0.9}\n", "base.yaml")
    child = write("extends: base.yaml\nname: child\ntraining:\n  optimizer: {learning_rate: 0.5}\n")
    recipe = load_recipe(child).recipe
    assert recipe.name == "child"
    assert recipe.training.epochs == 7
    assert recipe.training.optimizer == {"type": "sgd", "momentum": 0.9, "learning_rate": 0.5}


def test_extends_problem_points_into_the_base_file(write):
    write(MINIMAL + "training: {epochs: -1}\n", "base.yaml")
    with pytest.raises(RecipeError) as info:
        load_recipe(write("extends: base.yaml\nname: child\n"))
    (problem,) = info.value.problems
    assert problem.location.source.endswith("base.yaml") and problem.location.line == 4


def test_extends_cycle_is_an_error(write):
    first = write("extends: b.yaml\n", "a.yaml")
    write("extends: a.yaml\n", "b.yaml")
    with pytest.raises(RecipeError, match=r"cycle: a.yaml -> b.yaml -> a.yaml"):
        load_recipe(first)


def test_extends_missing_file_is_an_error(write):
    with pytest.raises(RecipeError, match="base recipe not found") as info:
        load_recipe(write("extends: nowhere.yaml\n" + MINIMAL))
    assert info.value.problems[0].location.line == 1


SECRET = "db_password = 'hunter2'"


@pytest.mark.parametrize("name", ["settings.py", "passwd", "notes.txt"])
def test_extends_refuses_a_file_that_is_no_recipe_without_reading_it(write, name):
    """Issue 19: `extends:` naming any readable file printed its content as unknown keys."""
    write(f"{SECRET}\nsuperuser: x:0:0:/bin/bash\n", name)
    with pytest.raises(RecipeError) as info:
        load_recipe(write(f"extends: {name}\n" + MINIMAL))
    (problem,) = info.value.problems
    assert format_path(problem.path) == "extends" and problem.received == name
    assert "a base recipe must be a YAML file" in problem.render()
    assert ".yaml or .yml" in problem.render()
    assert "hunter2" not in info.value.render() and "superuser" not in info.value.render()


def test_a_recipe_that_is_no_mapping_is_refused_without_echoing_it(write):
    with pytest.raises(RecipeError) as info:
        load_recipe(write(f"{SECRET} and more text\n", "plain.yaml"))
    assert "this file holds plain text (37 characters)" in info.value.render()
    assert "hunter2" not in info.value.render()


def test_a_huge_sparse_recipe_is_refused_from_its_size(tmp_path):
    """Issue 19: a 3 GB file was read whole (4.2 GB of memory, 13-22 s) before being refused."""
    import os
    import resource
    import time

    path = tmp_path / "huge.yaml"
    path.write_bytes(b"name: x\n")
    os.truncate(path, 3 * 2**30)  # sparse: no disk used
    before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    start = time.perf_counter()
    with pytest.raises(RecipeError) as info:
        load_recipe(str(path))
    assert time.perf_counter() - start < 1.0
    assert resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - before < 50_000  # KB: nothing was read
    assert "the file is 3,221,225,472 bytes; a recipe is at most 1,000,000 bytes" in info.value.render()


def test_missing_recipe_file_suggests_shipped_names():
    with pytest.raises(RecipeError, match="did you mean: quickstart"):
        load_recipe("quickstrat")


def test_shipped_recipe_by_name():
    assert load_recipe("quickstart").recipe.name == "quickstart"


def test_overrides_are_yaml_typed_and_reach_component_arguments(write):
    loaded = load_recipe(write(MINIMAL + "training:\n  optimizer: adam\n"), [
        "training.epochs=3", "training.optimizer.learning_rate=0.01", "data.batch_size=full",
        "model.units=[4, 2]", "runtime.deterministic=true"])
    recipe = loaded.recipe
    assert recipe.training.epochs == 3
    assert recipe.training.optimizer == {"type": "adam", "learning_rate": 0.01}
    assert recipe.data.batch_size == "full"
    assert recipe.model.units == [4, 2]
    assert recipe.runtime.deterministic is True
    assert "with overrides: training.epochs=3" in loaded.resolved_yaml().splitlines()[0]


def test_override_inside_a_list(write):
    loaded = load_recipe(write(MINIMAL + "training:\n  callbacks: [{type: early_stopping}]\n"),
                         ["training.callbacks[0].patience=4", "training.callbacks.0.monitor=loss"])
    assert loaded.recipe.training.callbacks[0] == {
        "type": "early_stopping", "patience": 4, "monitor": "loss"}


def test_parse_override_splits_paths_and_values():
    assert parse_override("a.b[2].c=0.5") == (("a", "b", 2, "c"), 0.5)
    assert parse_override("x=[1, 2]") == (("x",), [1, 2])
    assert parse_override("x=") == (("x",), None)


def test_resolved_yaml_round_trips(write):
    loaded = load_recipe(write(MINIMAL))
    text = loaded.resolved_yaml()
    again = load_recipe(write(text, "again.yaml"))
    assert again.resolved() == loaded.resolved()
    assert yaml.safe_load(text)["name"] == "tiny"


def test_stages_merge_over_top_level_training(write):
    from kerasopt.recipe.format.stages import resolve_stages

    loaded = load_recipe(write(MINIMAL + """\
training:
  epochs: 4
  optimizer: {type: sgd, learning_rate: 0.1, momentum: 0.9}
stages:
  - {name: warm}
  - name: fine
    steps: 50
    training: {optimizer: {learning_rate: 0.01}}
"""))
    stages = resolve_stages(loaded.recipe, loaded.raw)
    assert [s.name for s in stages] == ["warm", "fine"]
    assert stages[0].training.length() == ("epochs", 4)
    assert stages[1].training.length() == ("steps", 50)
    assert stages[1].training.optimizer == {"type": "sgd", "learning_rate": 0.01, "momentum": 0.9}


@pytest.mark.parametrize(("value", "expected"), [
    (120, 120), ("3ep", 150), ("500ba", 500), ("0.1dur", 100), ("1.5ep", 75), (".25dur", 250)])
def test_durations_convert_to_steps(value, expected):
    assert to_steps(value, steps_per_epoch=50, total_steps=1000) == expected


def test_problem_paths_render_like_recipe_keys():
    assert format_path(("training", "callbacks", 0, "patience")) == "training.callbacks[0].patience"
    assert format_path(()) == "<recipe>"


def test_hparams_keep_what_users_compare_and_drop_descriptions_and_paths(write, tmp_path):
    from kerasopt.recipe.run.tensorboard_logging import run_hparams

    table = tmp_path / "train.csv"
    table.write_text("a,b,label\n" + "".join(f"{i},{i % 3},{i % 2}\n" for i in range(20)))
    loaded = load_recipe(write(f"""\
name: tiny
description: a long description nobody compares
data: {{source: csv, path: {table}, target: label, batch_size: 32}}
model: {{architecture: mlp, units: [8]}}
training:
  epochs: 4
  optimizer: {{type: sgd, learning_rate: 0.1, momentum: 0.9}}
stages:
  - {{name: warm}}
  - name: fine
    steps: 50
    training: {{optimizer: {{learning_rate: 0.01}}}}
"""))
    hparams = run_hparams(loaded.resolved())
    assert hparams["training.optimizer.learning_rate"] == 0.1
    assert hparams["training.optimizer.type"] == "sgd"
    assert hparams["data.batch_size"] == 32 and hparams["model.architecture"] == "mlp"
    assert hparams["stages.fine.steps"] == 50
    assert hparams["stages.fine.training.optimizer.learning_rate"] == 0.01
    assert not [k for k in hparams if "description" in k or k.endswith(".path") or "runtime" in k
                or "delimiter" in k]


@pytest.mark.usefixtures("transfer_source_model")
def test_every_name_kerasopt_list_prints_loads():
    from kerasopt.recipe.format.shipped import shipped_names

    names = shipped_names()
    assert "schedules/warmup_cosine" in names and len(names) > 10
    for name, path in names.items():
        assert load_recipe(name).path == path


@pytest.mark.parametrize("name", ["schedules/lr_find_then_train", "schedules/lr_find_then_train.yaml",
                                  "lr_find_then_train"])
def test_shipped_recipe_by_listed_name_file_name_or_unique_stem(name):
    assert load_recipe(name).path.as_posix().endswith("recipes/schedules/lr_find_then_train.yaml")


def test_a_stem_two_shipped_recipes_share_lists_both():
    with pytest.raises(RecipeError, match="schedules/warmup_cosine, studies/lr_schedules/warmup_cosine"):
        load_recipe("warmup_cosine")


def test_misspelled_shipped_name_suggests_the_listed_name():
    with pytest.raises(RecipeError, match="did you mean: schedules/warmup_cosine"):
        load_recipe("schedules/warmup_cosin")


STAGED = MINIMAL + """\
training:
  epochs: 2
  optimizer: {type: sgd, learning_rate: 0.1}
stages:
  - {name: a, epochs: 1}
  - {name: b, steps: 5, training: {optimizer: {type: adam, learning_rate: 0.01}}}
"""


def test_override_every_stage_shadows_is_an_error_naming_the_fix(write):
    with pytest.raises(RecipeError) as info:
        load_recipe(write(STAGED), ["training.epochs=3"])
    (problem,) = info.value.problems
    assert format_path(problem.path) == "training.epochs"
    assert "has no effect: every stage sets it itself (stages.0.epochs, stages.1.steps)" in problem.message
    assert problem.allowed == "set it per stage: stages.0.epochs=3 stages.1.epochs=3 stages.1.steps=null"
    assert problem.location.source == "override 'training.epochs=3'"


def test_override_shadowed_inside_every_stage_training(write):
    text = STAGED.replace("{name: a, epochs: 1}", "{name: a, epochs: 1, training: {optimizer: adam}}")
    with pytest.raises(RecipeError, match=r"every stage sets it itself \(stages.0.training.optimizer, "
                                          r"stages.1.training.optimizer.learning_rate\)"):
        load_recipe(write(text), ["training.optimizer.learning_rate=1e-3"])


def test_override_of_stage_training_length_where_the_stage_sets_its_own(write):
    with pytest.raises(RecipeError, match="write instead: stages.1.epochs=4 stages.1.steps=null"):
        load_recipe(write(STAGED), ["stages.1.training.epochs=4"])


def test_overrides_that_do_take_effect_are_fine(write):
    loaded = load_recipe(write(STAGED), ["training.optimizer.momentum=0.5", "stages.0.epochs=3",
                                         "training.optimizer.learning_rate=1e-3"])
    assert loaded.raw["training"]["optimizer"]["learning_rate"] == 0.001  # stage a uses it
    assert loaded.recipe.stages[0].epochs == 3


def test_extends_cannot_be_overridden(write):
    with pytest.raises(RecipeError, match="`extends` cannot be overridden"):
        load_recipe(write(MINIMAL), ["extends=other.yaml"])
