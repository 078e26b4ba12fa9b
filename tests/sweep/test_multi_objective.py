"""Multi-objective sweeps: a real study whose reported Pareto front is checked against NumPy, and refusals."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import yaml

optuna = pytest.importorskip("optuna")

from kerasopt.recipe.errors import RecipeError  # noqa: E402
from kerasopt.recipe.format.schema_sweep import SweepSection  # noqa: E402
from kerasopt.sweep.search_space import SearchSpace  # noqa: E402
from kerasopt.sweep.sweep import Sweep  # noqa: E402
from tests.tiny_recipe import TINY, write_tiny_recipe  # noqa: E402

WIDTHS = "model.units.0=choice(1,4,16)"
OBJECTIVES = [("val_accuracy", "maximize"), ("params", "auto")]


def non_dominated(values: np.ndarray, signs: np.ndarray) -> np.ndarray:
    """Indices of the rows no other row beats: at least as good everywhere, better somewhere."""
    cost = values * signs  # every objective turned into one to minimize
    at_least = (cost[:, None, :] <= cost[None, :, :]).all(-1)  # [i, j]: i at least as good as j
    better = (cost[:, None, :] < cost[None, :, :]).any(-1)
    dominated = (at_least & better).any(0)
    return np.flatnonzero(~dominated)


@pytest.mark.slow
def test_reported_front_is_the_non_dominated_set_of_the_trials_values(tmp_path, capsys):
    recipe, out = write_tiny_recipe(tmp_path, training={"epochs": 1}), tmp_path / "sweep"
    sweep = Sweep(recipe, SearchSpace.parse([WIDTHS]), sampler="grid", objectives=OBJECTIVES,
                  output_dir=str(out))
    assert sweep.objectives == [("val_accuracy", "maximize"), ("params", "minimize")]
    result = sweep.run(log=lambda *_: None)
    study = optuna.load_study(study_name="tiny", storage=f"sqlite:///{out / 'study.db'}")
    assert [d.name for d in study.directions] == ["MAXIMIZE", "MINIMIZE"]
    trials = [t for t in study.trials if t.state == optuna.trial.TrialState.COMPLETE]
    assert len(trials) == 3 and result["best"] is None
    # Each trial's values are its run's metrics.json numbers.
    for t in trials:
        metrics = json.loads((out / f"trial_{t.number}" / "metrics.json").read_text())
        assert t.values == [metrics["evaluation"]["validation"]["accuracy"], metrics["params"]]
        assert json.loads((out / f"trial_{t.number}" / "trial.json").read_text())["values"] == t.values
    # 6 inputs, hidden width w, 3 classes: 6w + w + 3w + 3 parameters.
    assert sorted(t.values[1] for t in trials) == [10 * w + 3 for w in (1, 4, 16)]
    values = np.array([t.values for t in trials])
    expected = {trials[i].number for i in non_dominated(values, np.array([-1.0, 1.0]))}
    assert {p["number"] for p in result["pareto"]} == expected
    assert min(t.values[1] for t in trials) in {p["values"][1] for p in result["pareto"]}  # narrowest: on it
    # The report lists exactly the front in its own table, and draws it.
    report = (out / "report.md").read_text()
    table = report.split("## Pareto front")[1].split("## All runs")[0]
    listed = {line.split("|")[1].strip() for line in table.splitlines() if line.startswith("| trial_")}
    assert listed == {f"trial_{n}" for n in expected}
    assert "](report_pareto.png)" in report and (out / "report_pareto.png").stat().st_size > 1000
    assert 'id="table0"' in (out / "report.html").read_text()
    # The same command continues the study (resume keeps its directions) and compare still works.
    again = Sweep(recipe, SearchSpace.parse([WIDTHS]), sampler="grid", objectives=OBJECTIVES,
                  output_dir=str(out)).run(log=lambda *_: None)
    assert {p["number"] for p in again["pareto"]} == expected
    assert len(optuna.load_study(study_name="tiny", storage=f"sqlite:///{out / 'study.db'}").trials) == 3
    from kerasopt.cli import main

    assert main(["compare", *(str(out / f"trial_{t.number}") for t in trials)]) == 0
    assert capsys.readouterr().out.count("| trial_") == 3


def test_section_objectives_and_their_refusals():
    section = SweepSection.model_validate({"objectives": [{"metric": "val_accuracy"},
                                                          {"metric": "exports.tflite.latency_us"}]})
    assert section.objective_list() == [("val_accuracy", "auto"), ("exports.tflite.latency_us", "auto")]
    assert SweepSection.model_validate({"metric": "val_accuracy"}).objective_list() == [("val_accuracy", "auto")]
    with pytest.raises(ValueError, match="prune: Optuna cannot prune trials of a multi-objective study"):
        SweepSection.model_validate({"objectives": [{"metric": "val_loss"}, {"metric": "params"}], "prune": True})
    with pytest.raises(ValueError, match="either `objectives` or `metric`"):
        SweepSection.model_validate({"objectives": [{"metric": "val_loss"}], "metric": "val_accuracy"})
    with pytest.raises(ValueError, match="String should match pattern"):
        SweepSection.model_validate({"objectives": [{"metric": "exports.tflite"}]})


def test_python_api_refuses_a_pruner_with_several_objectives(tmp_path):
    recipe = write_tiny_recipe(tmp_path)
    with pytest.raises(RecipeError) as info:
        Sweep(recipe, SearchSpace.parse([WIDTHS]), objectives=OBJECTIVES, pruner=optuna.pruners.MedianPruner(),
              output_dir=str(tmp_path / "sweep"))
    assert [p.path for p in info.value.problems] == [("pruner",)]
    with pytest.raises(RecipeError) as info:  # the objective reads a file the recipe does not export
        Sweep(recipe, SearchSpace.parse([WIDTHS]), objectives=[("val_accuracy", "auto"),
                                                                ("exports.tflite.bytes", "auto")])
    assert [(p.path, p.received) for p in info.value.problems] == [(("objectives", 1, "metric"), "exports.tflite.bytes")]
    assert "no run of this recipe writes exports.tflite: it needs export.tflite set" in str(info.value)
    assert not (tmp_path / "sweep").exists()


def _with_sweep(folder: Path, sweep: dict) -> str:
    path = folder / "recipe.yaml"
    path.write_text(yaml.safe_dump({**TINY, "sweep": sweep}))
    return str(path)


def test_validate_and_sweep_exit_2_naming_the_key(tmp_path, kerasopt):
    objectives = [{"metric": "val_accuracy"}, {"metric": "params"}]
    pruned = _with_sweep(tmp_path, {"params": {"model.units.0": "choice(1,2)"}, "objectives": objectives,
                                    "prune": True})
    validate = kerasopt("validate", pruned)
    assert validate.returncode == 2, validate.stderr
    assert "sweep: prune: Optuna cannot prune trials of a multi-objective study" in validate.stderr
    out = tmp_path / "sweep"
    cli = kerasopt("sweep", write_tiny_recipe(tmp_path), "--param", WIDTHS, "--metric", "val_accuracy",
                   "--metric", "params", "--prune", "--output-dir", str(out))
    assert cli.returncode == 2, cli.stderr
    assert "prune: Optuna cannot prune trials of a multi-objective study" in cli.stderr
    bad = kerasopt("sweep", write_tiny_recipe(tmp_path), "--param", WIDTHS, "--metric", "val_accuracy",
                   "--metric", "exports.tflite", "--output-dir", str(out))
    assert bad.returncode == 2 and "objectives.1.metric: must name a metric of metrics.json" in bad.stderr
    assert "Traceback" not in validate.stderr + cli.stderr + bad.stderr
    assert not out.exists()
