"""MLflow tracking (issue 23, item 3), read back with MLflow's own client from a local store:
the recipe as parameters, the loss history, the final evaluation and the files as artifacts; the
run's status as kerasopt ended; `--resume` continuing the same MLflow run."""

from __future__ import annotations

import json
from pathlib import Path

import keras
import pytest

from kerasopt.cli import main
from kerasopt.recipe.check.loader import load_recipe
from kerasopt.recipe.errors import RunFailed
from kerasopt.recipe.run.runner import run
from tests.tiny_recipe import write_tiny_recipe
from tests.tracking.conftest import mlflow_client

mlflow = pytest.importorskip("mlflow")


def _recipe(folder, uri, **sections):
    logger = {"type": "mlflow", "tracking_uri": uri, "experiment": "tiny-exp"}
    return write_tiny_recipe(folder, runtime={"loggers": [logger]}, **sections)


def _runs(client, experiment="tiny-exp"):
    found = client.get_experiment_by_name(experiment)
    return client.search_runs([found.experiment_id]) if found is not None else []


def test_mlflow_sees_the_parameters_loss_history_evaluation_and_files(tmp_path, store_uri):
    uri = store_uri
    path = _recipe(tmp_path, uri, description="d" * 600, data={"validation_split": 0.2},
                   export={"keras": True})
    out = tmp_path / "run"
    metrics = run(load_recipe(path), output_dir=str(out))
    client = mlflow_client(uri)
    (found,) = _runs(client)
    assert found.info.status == "FINISHED" and found.info.run_name == "run"
    assert metrics["tracking"] == [{"type": "mlflow", "tracking_uri": uri, "experiment": "tiny-exp",
                                    "run_id": found.info.run_id}]
    params = found.data.params
    assert params["training.epochs"] == "2" and params["data.batch_size"] == "16"
    assert params["model.units"] == "[8]" and params["runtime.loggers"].startswith("[{'type': 'mlflow'")
    assert params["description"] == "d" * 497 + "..."  # 500 characters, MLflow's oldest limit
    history = metrics["stages"][0]["history"]
    for key in ("loss", "val_loss", "val_accuracy"):
        logged = client.get_metric_history(found.info.run_id, key)
        assert [m.step for m in logged] == [0, 1]
        assert [m.value for m in logged] == pytest.approx(history[key], rel=1e-6)
    for split in ("test", "validation"):
        for key, value in metrics["evaluation"][split].items():
            assert found.data.metrics[f"evaluation.{split}.{key}"] == pytest.approx(value, rel=1e-6)
    assert found.data.metrics["stages.train.test.loss"] == pytest.approx(metrics["stages"][0]["evaluation"]["test"]["loss"])
    names = {a.path for a in client.list_artifacts(found.info.run_id)}
    assert names == {"recipe.yaml", "metrics.json", "model.keras"}
    local = client.download_artifacts(found.info.run_id, "metrics.json", str(tmp_path))
    assert json.loads(Path(local).read_text()) == json.loads((out / "metrics.json").read_text())
    recipe = client.download_artifacts(found.info.run_id, "recipe.yaml", str(tmp_path / "r"))
    assert Path(recipe).read_text() == (out / "recipe.yaml").read_text()
    # Artifacts of a new experiment in a local database sit beside the database file.
    assert (tmp_path / "store" / "mlartifacts").is_dir()


def test_a_diverged_run_is_failed_in_mlflow(tmp_path, store_uri):
    uri = store_uri
    path = _recipe(tmp_path, uri, training={"epochs": 3, "optimizer": {"type": "sgd", "learning_rate": 1.0e12}})
    with pytest.raises(RunFailed, match="diverged"):
        run(load_recipe(path), output_dir=str(tmp_path / "run"))
    (found,) = _runs(mlflow_client(uri))
    assert found.info.status == "FAILED"


def test_resume_continues_the_same_mlflow_run(tmp_path, monkeypatch, store_uri):
    uri = store_uri
    path = _recipe(tmp_path, uri, training={"epochs": 4})
    out = tmp_path / "run"
    original = keras.callbacks.History.on_epoch_end

    def ctrl_c(self, epoch, logs=None):  # Ctrl-C after epoch 2 (0-based 1) and its backup
        original(self, epoch, logs)
        if epoch == 1:
            raise KeyboardInterrupt

    monkeypatch.setattr(keras.callbacks.History, "on_epoch_end", ctrl_c)
    with pytest.raises(KeyboardInterrupt):
        run(load_recipe(path), output_dir=str(out))
    monkeypatch.setattr(keras.callbacks.History, "on_epoch_end", original)
    client = mlflow_client(uri)
    (interrupted,) = _runs(client)
    assert interrupted.info.status == "KILLED"
    assert [m.step for m in client.get_metric_history(interrupted.info.run_id, "loss")] == [0, 1]
    metrics = run(load_recipe(path), output_dir=str(out), resume=True)
    (resumed,) = _runs(client)  # no second run
    assert resumed.info.run_id == interrupted.info.run_id and resumed.info.status == "FINISHED"
    logged = client.get_metric_history(resumed.info.run_id, "loss")
    assert [m.step for m in logged] == [0, 1, 2, 3]
    assert [m.value for m in logged] == pytest.approx(metrics["stages"][0]["history"]["loss"], rel=1e-6)


def test_each_sweep_trial_is_a_child_of_the_sweeps_run_and_compare_reads_them_back(tmp_path, store_uri, capsys):
    from kerasopt.report.comparison import Comparison
    from kerasopt.report.mlflow_runs import download_runs
    from kerasopt.sweep.search_space import SearchSpace
    from kerasopt.sweep.sweep import Sweep

    path = _recipe(tmp_path, store_uri, training={"epochs": 1, "optimizer": {"type": "sgd"}})
    space = SearchSpace.parse(["training.optimizer.learning_rate=choice(0.05,0.1)"])
    result = Sweep(path, space, sampler="grid", metric="val_accuracy",
                   output_dir=str(tmp_path / "sweep")).run(log=lambda line: None)
    client = mlflow_client(store_uri)
    runs = _runs(client)
    (parent,) = [r for r in runs if r.info.run_name == "sweep"]
    children = sorted((r for r in runs if r is not parent), key=lambda r: r.info.run_name)
    assert [r.info.run_name for r in children] == ["trial_0", "trial_1"]
    assert all(r.data.tags["mlflow.parentRunId"] == parent.info.run_id for r in children)
    assert all(r.info.status == "FINISHED" for r in runs)
    assert sorted(r.data.params["training.optimizer.learning_rate"] for r in children) == ["0.05", "0.1"]
    assert parent.data.params["sweep.params.training.optimizer.learning_rate"].startswith("choice(0.05")
    assert parent.data.params["sweep.metric"] == "val_accuracy"
    assert parent.data.metrics["sweep.best_val_accuracy"] == pytest.approx(result["best"]["value"])
    # `kerasopt compare --mlflow` gives the trial directories' numbers (the parent has no metrics.json).
    assert main(["compare", "--mlflow", store_uri, "--experiment", "tiny-exp"]) == 0
    out, err = capsys.readouterr()
    assert "skipped runs without a final metrics.json: sweep (no metrics.json)" in err
    assert "| trial_0 |" in out and "| trial_1 |" in out
    from_mlflow = Comparison(download_runs(store_uri, "tiny-exp", tmp_path / "downloaded")).rows()
    local = Comparison(sorted((tmp_path / "sweep").glob("trial_*"))).rows()
    assert [r["run"] for r in from_mlflow] == ["trial_0", "trial_1"]
    for downloaded in from_mlflow:  # the same numbers; the sweep's own rows add its params and states
        same = next(r for r in local if r["run"] == downloaded["run"])
        assert downloaded == {k: v for k, v in same.items() if k in downloaded}
        assert downloaded["test accuracy"] is not None
