"""Sweeps end to end on the tiny recipe: grid, resume, pruning, Ctrl-C, two worker processes."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

optuna = pytest.importorskip("optuna")

from kerasopt.report.comparison import Comparison  # noqa: E402
from kerasopt.sweep.search_space import SearchSpace  # noqa: E402
from kerasopt.sweep.sweep import Sweep  # noqa: E402
from tests.tiny_recipe import write_tiny_recipe  # noqa: E402

ROOT = Path(__file__).resolve().parents[2]
GRID = ["training.optimizer.learning_rate=choice(0.01,0.1)", "training.optimizer.type=choice(adam,sgd)"]


def tiny(folder: Path, **runtime) -> str:
    return write_tiny_recipe(folder, training={"epochs": 2},
                             runtime={"verbose": 0, "tensorboard": {"enabled": True}, **runtime})


def load(sweep_dir: Path, name: str = "tiny") -> optuna.Study:
    return optuna.load_study(study_name=name, storage=f"sqlite:///{sweep_dir / 'study.db'}")


def quiet(*_args) -> None:
    """A `log` that prints nothing."""


@pytest.mark.slow
def test_grid_sweep_resumes_and_writes_trials_study_and_report(tmp_path):
    recipe, out = tiny(tmp_path), tmp_path / "sweep"
    space = SearchSpace.parse(GRID)
    first = Sweep(recipe, space, trials=2, sampler="grid", metric="val_accuracy", output_dir=str(out))
    assert first.trials == 2 and first.grid_size == 4
    first.run(log=quiet)
    assert len(load(out).trials) == 2
    # The same sweep again, up to the whole grid: two more trials, the other two grid points.
    result = Sweep(recipe, SearchSpace.parse(GRID), sampler="grid", metric="val_accuracy",
                   output_dir=str(out)).run(log=quiet)
    trials = load(out).trials
    assert [t.number for t in trials] == [0, 1, 2, 3]
    assert all(t.state == optuna.trial.TrialState.COMPLETE for t in trials)
    points = {(t.params["training.optimizer.learning_rate"], t.params["training.optimizer.type"]) for t in trials}
    assert points == {(0.01, "adam"), (0.01, "sgd"), (0.1, "adam"), (0.1, "sgd")}
    assert sorted(p.name for p in out.glob("trial_*")) == ["trial_0", "trial_1", "trial_2", "trial_3"]
    for t in trials:
        run_dir = out / f"trial_{t.number}"
        metrics = json.loads((run_dir / "metrics.json").read_text())
        assert t.value == metrics["evaluation"]["validation"]["accuracy"]
        assert metrics["recipe"] == f"tiny-trial_{t.number}"  # its own HParams session
        resolved = (run_dir / "recipe.yaml").read_text()
        assert f"learning_rate: {t.params['training.optimizer.learning_rate']}" in resolved
        assert (run_dir / "logs" / "train").is_dir() and (run_dir / "logs" / "validation").is_dir()
        assert json.loads((run_dir / "trial.json").read_text())["state"] == "complete"
    best = max(trials, key=lambda t: t.value)
    assert result["best"]["value"] == best.value and result["states"] == {"complete": 4}
    assert (out / "study.db").is_file() and (out / "report.html").is_file()
    report = (out / "report.md").read_text()
    for name in ("report_curves.png", "report_learning_rate.png", "report_params.png"):
        assert f"]({name})" in report and (out / name).stat().st_size > 1000
    # The learning rate the report plots is the one TensorBoard logged for each trial.
    comparison = Comparison(sorted(out.glob("trial_*")), metric="accuracy")
    for record in comparison.records:
        steps, rates = record.learning_rate()
        assert len(rates) == 2 and rates == pytest.approx([record.params["training.optimizer.learning_rate"]] * 2)
        assert steps == [11.0, 22.0]  # 180 training examples / 16 per batch = 11 steps per epoch


class PruneTrialZero(optuna.pruners.BasePruner):
    """Prunes trial 0 at its first report (deterministic pruning for the test)."""

    def prune(self, study, trial) -> bool:
        return trial.number == 0


@pytest.mark.slow
def test_pruned_trial_is_marked_its_run_directory_complete_and_it_does_not_count(tmp_path):
    out = tmp_path / "sweep"
    sweep = Sweep(tiny(tmp_path), SearchSpace.parse(["training.optimizer.learning_rate=loguniform(1e-3,1e-1)"]),
                  trials=1, sampler="random", metric="val_accuracy", output_dir=str(out), pruner=PruneTrialZero())
    printed: list[str] = []
    result = sweep.run(log=printed.append)
    trial, complete = load(out).trials  # one complete trial asked for: the pruned one does not count
    assert trial.state == optuna.trial.TrialState.PRUNED and complete.state == optuna.trial.TrialState.COMPLETE
    assert result["states"] == {"complete": 1, "pruned": 1} and result["best"]["number"] == 1
    assert "  trial 0 pruned after epoch 0" in printed
    record = json.loads((out / "trial_0" / "trial.json").read_text())
    assert record["state"] == "pruned" and record["pruned_at_epoch"] == 0 and len(record["intermediate"]) == 1
    metrics = json.loads((out / "trial_0" / "metrics.json").read_text())
    assert metrics["stages"][0]["epochs"] == 1  # stopped after the epoch the pruner was asked at
    assert trial.intermediate_values == {0: metrics["stages"][0]["history"]["val_accuracy"][0]}
    assert not list(out.rglob("*.tmp*"))
    assert "| trial_0 | pruned |" in (out / "report.md").read_text()


@pytest.mark.slow  # imports the runner (TensorFlow)
def test_ctrl_c_marks_the_trial_and_the_same_sweep_reruns_its_point(tmp_path, monkeypatch, capsys):
    """Ctrl-C inside a trial: the trial is failed and flagged, the study stays usable, and the
    same sweep runs the interrupted grid point again (the runner is replaced by a fast stand-in)."""
    from kerasopt.recipe.run import runner

    calls = []

    def fake_run(loaded, *, output_dir, resume=False, callbacks=(), parent_runs=()):
        calls.append(output_dir)
        if len(calls) == 1:
            raise KeyboardInterrupt
        lr = loaded.recipe.training.optimizer["learning_rate"]
        metrics = {"recipe": loaded.recipe.name, "evaluation": {"validation": {"loss": lr}}, "stages": []}
        Path(output_dir).mkdir(parents=True)  # as the runner does: the trial's folder starts empty
        Path(output_dir, "metrics.json").write_text(json.dumps(metrics))
        return metrics

    monkeypatch.setattr(runner, "run", fake_run)
    recipe, out = tiny(tmp_path), tmp_path / "sweep"
    space = ["training.optimizer.learning_rate=choice(0.3,0.2)"]
    with pytest.raises(KeyboardInterrupt):
        Sweep(recipe, SearchSpace.parse(space), sampler="grid", output_dir=str(out)).run()
    printed = capsys.readouterr().out
    assert "Continue with:\n  kerasopt sweep" in printed and "--sampler grid" in printed
    (interrupted,) = load(out).trials
    assert interrupted.state == optuna.trial.TrialState.FAIL and interrupted.user_attrs["interrupted"]
    assert json.loads((out / "trial_0" / "trial.json").read_text())["state"] == "interrupted"
    result = Sweep(recipe, SearchSpace.parse(space), sampler="grid", output_dir=str(out)).run(log=quiet)
    trials = load(out).trials
    assert [t.state.name for t in trials] == ["FAIL", "COMPLETE", "COMPLETE"]
    assert interrupted.params == trials[1].params  # the interrupted point first
    assert result["best"]["params"] == {"training.optimizer.learning_rate": 0.2}


def test_a_study_of_another_sweep_is_refused(tmp_path, monkeypatch):
    from kerasopt.recipe.errors import RecipeError

    recipe, out = tiny(tmp_path), tmp_path / "sweep"
    Sweep(recipe, SearchSpace.parse(["seed=choice(1,2)"]), output_dir=str(out)).open_study()
    with pytest.raises(RecipeError, match="holds another sweep"):
        Sweep(recipe, SearchSpace.parse(["seed=choice(1,3)"]), output_dir=str(out)).open_study()


@pytest.mark.slow
def test_two_worker_processes_share_one_sqlite_study(tmp_path, monkeypatch, kerasopt):
    recipe, out = tiny(tmp_path), tmp_path / "sweep"
    # The command that starts the two worker processes runs in this one (TensorFlow is loaded
    # here already); the workers start from the repository root with this repository's kerasopt.
    monkeypatch.chdir(ROOT)
    monkeypatch.setenv("PYTHONPATH", str(ROOT))
    monkeypatch.setenv("TF_CPP_MIN_LOG_LEVEL", "3")
    result = kerasopt(
        "sweep", recipe, "runtime.tensorboard.enabled=false",
        "--param", "training.optimizer.learning_rate=loguniform(1e-3,1e-1)", "--sampler", "random",
        "--trials", "2", "--workers", "2", "--metric", "val_accuracy", "--output-dir", str(out))
    assert result.returncode == 0, result.stderr
    trials = load(out).trials
    assert sorted(t.number for t in trials) == [0, 1]
    assert all(t.state == optuna.trial.TrialState.COMPLETE for t in trials)
    assert len({t.params["training.optimizer.learning_rate"] for t in trials}) == 2
    assert sorted(p.name for p in out.glob("trial_*")) == ["trial_0", "trial_1"]
    assert "best trial" in result.stdout and (out / "report.html").is_file()
