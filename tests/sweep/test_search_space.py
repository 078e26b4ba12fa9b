"""Sweep keys and values are checked before any trial: did-you-mean, syntax, every grid point."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from kerasopt.cli import main
from kerasopt.recipe.check.loader import load_recipe
from kerasopt.recipe.errors import RecipeError
from kerasopt.recipe.format.schema_sweep import SweepSection, read_sweep_section, resolve_direction
from kerasopt.sweep.search_space import SearchSpace
from kerasopt.sweep.sweep import Sweep
from tests.tiny_recipe import TINY, write_tiny_recipe


def test_misspelled_key_gets_did_you_mean(tmp_path):
    loaded = load_recipe(write_tiny_recipe(tmp_path))
    space = SearchSpace.parse(["training.optimzer.learning_rate=loguniform(1e-4,1e-1)",
                               "data.batch_sise=choice(16,32)"])
    problems = space.check_keys(loaded)
    assert [p.path for p in problems] == [("training", "optimzer"), ("data", "batch_sise")]
    assert problems[0].suggestions == ["optimizer"] and problems[1].suggestions[0] == "batch_size"


def test_defaults_and_new_component_arguments_are_keys(tmp_path):
    # TINY gives no optimizer: the default {type: adam} is resolved, and beta_1 is a new argument.
    loaded = load_recipe(write_tiny_recipe(tmp_path))
    space = SearchSpace.parse(["training.optimizer.learning_rate=loguniform(1e-4,1e-1)",
                               "training.optimizer.beta_1=uniform(0.8,0.95)", "seed=int(0,9)",
                               "training.restore_best=choice(true,false)"])
    assert space.check_keys(loaded) == []
    overrides = space.overrides(loaded, {"training.optimizer.learning_rate": 1e-05, "seed": 3})
    assert overrides == ["training.optimizer.type=adam", "training.optimizer.learning_rate=1.0e-05", "seed=3"]
    trial = load_recipe(str(loaded.path), overrides).recipe
    assert trial.training.optimizer == {"type": "adam", "learning_rate": 1e-05} and trial.seed == 3


def test_every_grid_point_is_validated_up_front(tmp_path):
    recipe = write_tiny_recipe(tmp_path)
    space = SearchSpace.parse(["training.optimizer.type=choice(adam,sgd)",
                               "training.optimizer.beta_1=choice(0.9,0.99)"])
    # sgd has no beta_1: the point (sgd, 0.9) is invalid, and named.
    with pytest.raises(RecipeError, match=r"sweep point training.optimizer.type=sgd "
                       r"training.optimizer.beta_1=0.9") as info:
        Sweep(recipe, space, sampler="grid", output_dir=str(tmp_path / "sweep"))
    assert "unknown argument of optimizer 'SGD'" in info.value.render()
    assert not (tmp_path / "sweep").exists()


def test_range_ends_are_validated(tmp_path):
    space = SearchSpace.parse(["training.epochs=int(0,3)"])
    with pytest.raises(RecipeError, match="training.epochs=0"):
        Sweep(write_tiny_recipe(tmp_path), space, output_dir=str(tmp_path / "sweep"))


def test_corner_points_pair_range_ends_with_every_choice():
    space = SearchSpace.parse(["a=choice(x,y)", "b=uniform(0,1)", "c=int(2,4)"])
    assert space.corner_points() == [
        {"a": "x", "b": 0.0, "c": 2}, {"a": "x", "b": 1.0, "c": 4},
        {"a": "y", "b": 0.0, "c": 2}, {"a": "y", "b": 1.0, "c": 4}]


def test_options_are_checked(tmp_path):
    recipe = write_tiny_recipe(tmp_path)
    space = SearchSpace.parse(["training.epochs=int(1,3)"])
    with pytest.raises(RecipeError) as info:
        Sweep(recipe, space, sampler="grid", metric="accuracy", trials=0)
    paths = [p.path for p in info.value.problems]
    assert paths == [("sampler",), ("metric",), ("trials",)]


def test_sweep_section_model():
    section = SweepSection.model_validate({"params": {"training.optimizer.learning_rate": "loguniform(1e-4,1e-1)"},
                                           "metric": "val_accuracy"})
    assert section.sampler == "tpe" and section.distributions()["training.optimizer.learning_rate"].log
    assert resolve_direction(section.metric, section.direction) == "maximize"
    with pytest.raises(ValueError, match=r"params\['x'\]: not a distribution"):
        SweepSection.model_validate({"params": {"x": "gauss(1)"}})
    with pytest.raises(ValueError, match="ranges given for: lr"):
        SweepSection.model_validate({"params": {"lr": "uniform(0,1)"}, "sampler": "grid"})


def _with_sweep(folder: Path, sweep: dict) -> str:
    path = folder / "recipe.yaml"
    path.write_text(yaml.safe_dump({**TINY, "sweep": sweep}))
    return str(path)


def test_read_sweep_section_from_a_recipe_file(tmp_path):
    path = _with_sweep(tmp_path, {"params": {"seed": "choice(1,2)"}, "sampler": "grid"})
    assert read_sweep_section(path).distributions()["seed"].choices == (1, 2)
    assert read_sweep_section(write_tiny_recipe(tmp_path)) is None
    bad = _with_sweep(tmp_path, {"params": {"seed": "choice(1,2)"}, "trails": 3})
    with pytest.raises(RecipeError, match="sweep.trails"):
        read_sweep_section(bad)


def test_cli_exits_2_before_any_trial(tmp_path, kerasopt):
    recipe = write_tiny_recipe(tmp_path)
    out = tmp_path / "sweep"
    typo = kerasopt("sweep", recipe, "--param", "training.optimizer.learning_rat=loguniform(1e-4,1e-1)",
                    "--param", "training.epoch=int(1,2)", "--output-dir", str(out))
    assert typo.returncode == 2, typo.stderr
    assert "did you mean: epochs?" in typo.stderr and "no such key in the recipe" in typo.stderr
    syntax = kerasopt("sweep", recipe, "--param", "training.epochs=range(1,4)", "--output-dir", str(out))
    assert syntax.returncode == 2
    assert "expected uniform(LOW,HIGH), loguniform(LOW,HIGH)" in syntax.stderr
    nothing = kerasopt("sweep", recipe, "--output-dir", str(out))
    assert nothing.returncode == 2 and "nothing to sweep" in nothing.stderr
    # A trial runs in the sweep's process: a multi-worker recipe is refused, not failed trial by trial.
    cluster = kerasopt("sweep", recipe, "runtime.strategy=multi_worker", "--param", "seed=choice(1,2)",
                       "--output-dir", str(out))
    assert cluster.returncode == 2, cluster.stderr
    assert "runtime.strategy: a sweep runs each trial in one process" in cluster.stderr
    assert "kerasopt sweep --workers N" in cluster.stderr
    assert "Traceback" not in typo.stderr + syntax.stderr + nothing.stderr + cluster.stderr
    assert not out.exists()


@pytest.mark.parametrize(("value", "message"), [
    ("99999999999999999999", "must be between 1 and 3600"), ("inf", "expected a whole number >= 1, got 'inf'"),
    ("0", "must be between 1 and 3600")])
def test_a_heartbeat_out_of_range_is_a_usage_error(tmp_path, capsys, value, message):
    with pytest.raises(SystemExit) as exit_info:  # argparse's usage error
        main(["sweep", "quickstart", "--param", "seed=choice(1,2)", "--heartbeat", value,
              "--output-dir", str(tmp_path / "sweep")])
    assert exit_info.value.code == 2
    err = capsys.readouterr().err
    assert f"argument --heartbeat: {message}" in err and "_positive" not in err
    assert not (tmp_path / "sweep").exists()


def test_list_choices_come_back_from_sqlite_as_they_were(tmp_path):
    # `model.units: choice([8], [32])`: Optuna warns "for persistent storage" (an error under
    # this suite's filters); a sweep ignores that warning, since the lists round-trip.
    import warnings

    import optuna

    from kerasopt.recipe.format.sweep_distribution import LIST_CHOICES_WARNING

    space = SearchSpace.parse(["model.units=choice([8], [32])"])
    storage = f"sqlite:///{tmp_path / 'study.db'}"
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message=LIST_CHOICES_WARNING)  # as Sweep.open_study does
        study = optuna.create_study(storage=storage, study_name="s", sampler=optuna.samplers.RandomSampler(seed=0))
        drawn = []
        for _ in range(4):
            trial = study.ask()
            drawn.append(space.params["model.units"].suggest(trial, "model.units"))
            study.tell(trial, 0.0)
        stored = optuna.load_study(study_name="s", storage=storage).trials
    assert all(value in ([8], [32]) for value in drawn) and len({str(v) for v in drawn}) == 2
    assert [t.params["model.units"] for t in stored] == drawn
