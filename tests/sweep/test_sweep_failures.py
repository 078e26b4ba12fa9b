"""A sweep trial whose run fails is recorded as failed, not complete (issue 19, item 2), and does not
count towards `trials`; the summary says why (issue 20)."""

from __future__ import annotations

import json

import pytest

optuna = pytest.importorskip("optuna")

from kerasopt.sweep.search_space import SearchSpace  # noqa: E402
from kerasopt.sweep.sweep import Sweep  # noqa: E402
from tests.tiny_recipe import write_tiny_recipe  # noqa: E402


@pytest.mark.slow  # two trials and the sweep's report with its plots, like the other sweep runs
def test_a_diverging_trial_fails_does_not_count_and_the_sweep_goes_on(tmp_path):
    recipe = write_tiny_recipe(tmp_path, training={"epochs": 2, "optimizer": {"type": "sgd"}})
    out = tmp_path / "sweep"
    space = SearchSpace.parse(["training.optimizer.learning_rate=choice(0.05,1000000.0)"])
    printed: list[str] = []
    # Seed 0 draws 1e6 first, then 0.05: one complete trial asked for takes two.
    result = Sweep(recipe, space, trials=1, sampler="random", seed=0, metric="val_accuracy",
                   output_dir=str(out)).run(log=printed.append)
    study = optuna.load_study(study_name="tiny", storage=f"sqlite:///{out / 'study.db'}")
    states = [(t.params["training.optimizer.learning_rate"], t.state) for t in study.trials]
    assert states == [(1e6, optuna.trial.TrialState.FAIL), (0.05, optuna.trial.TrialState.COMPLETE)]
    assert result["states"] == {"complete": 1, "fail": 1}
    failed = study.trials[0]
    assert "study 'tiny': 2 trials (1 complete, 1 fail); complete trials count towards --trials 1" in printed
    reason = next(line for line in printed if line.startswith("  trial 0 failed: "))
    assert reason.startswith("  trial 0 failed: training diverged in stage 'train'") and "\n" not in reason
    record = json.loads((out / f"trial_{failed.number}" / "trial.json").read_text())
    assert record["state"] == "failed" and "training diverged in stage 'train'" in record["error"]
    assert not (out / f"trial_{failed.number}" / "metrics.json").exists()
    assert result["best"]["params"] == {"training.optimizer.learning_rate": 0.05}
