"""`kerasopt run --workers N` end to end, and the command line's answers for absent hardware or clusters."""

from __future__ import annotations

import json
import subprocess

import keras
import numpy as np
import pytest
import tensorflow as tf

from kerasopt import cli
from tests.subprocesses import finish, start_python
from tests.tiny_recipe import write_tiny_recipe


def start(*args: str) -> subprocess.Popen[str]:
    return start_python("-m", "kerasopt.cli", *args, drop=["TF_CONFIG"])


def kerasopt(*args: str) -> subprocess.CompletedProcess[str]:
    return finish(start(*args), timeout=600)


@pytest.mark.slow
def test_two_workers_train_like_one_process_with_the_same_global_batch(tmp_path):
    # 83 samples: 55 to train, 7 to validate, 21 to test; every split ends in a batch of an odd
    # size, which tf.distribute splits unevenly over the two workers (4 + 3, 4 + 3, 3 + 2).
    recipe = write_tiny_recipe(tmp_path, export={"keras": True}, data={"samples": 83},
                               model={"normalization": "batch"}, runtime={"deterministic": True})
    two, one = tmp_path / "two", tmp_path / "one"
    alone = start("run", recipe, "--output-dir", str(one))  # side by side with the two workers
    result = kerasopt("run", recipe, "--workers", "2", "--output-dir", str(two))
    assert result.returncode == 0, result.stderr[-3000:]
    assert finish(alone, timeout=600).returncode == 0
    metrics = json.loads((two / "metrics.json").read_text())
    single = json.loads((one / "metrics.json").read_text())
    # Both workers hold the same weights (measured across the workers after training).
    assert metrics["runtime"] == {"device": "cpu", "strategy": "multi_worker", "replicas": 2, "workers": 2,
                                  "weights_divergence": 0.0, "mixed_precision": "float32",
                                  "learning_rate_factor": 1.0}
    assert single["runtime"]["replicas"] == 1
    # Global batch 16 = 8 per worker, the last one 4 + 3: the same steps and, to float rounding
    # (synchronized batch norm sums over workers), the same numbers.
    assert metrics["timing"]["train_steps"] == single["timing"]["train_steps"] == 8
    for split in ("validation", "test"):
        for key, value in single["evaluation"][split].items():
            assert metrics["evaluation"][split][key] == pytest.approx(value, abs=1e-6), (split, key)
    for key, curve in single["stages"][0]["history"].items():
        np.testing.assert_allclose(metrics["stages"][0]["history"][key], curve, atol=1e-6, err_msg=key)
    weights = [keras.saving.load_model(folder / "model.keras", safe_mode=True).get_weights()
               for folder in (two, one)]
    for got, want in zip(*weights, strict=True):
        np.testing.assert_allclose(got, want, atol=1e-6)
    # The chief alone wrote the run directory; worker 1's log was moved in afterwards.
    assert sorted(p.name for p in two.iterdir()) == [".kerasopt-run.json", "checkpoints", "metrics.json",
                                                    "model.keras", "recipe.yaml", "workers"]
    assert json.loads((two / ".kerasopt-run.json").read_text())["entries"] == [
        "checkpoints", "metrics.json", "model.keras", "recipe.yaml", "workers"]
    assert sorted(p.name for p in (two / "checkpoints").iterdir()) == sorted(
        p.name for p in (one / "checkpoints").iterdir())
    assert [p.name for p in (two / "workers").iterdir()] == ["worker-1.log"]
    assert "strategy: multi_worker" in (two / "recipe.yaml").read_text()
    assert not list(tmp_path.glob(".kerasopt-workers-*"))


@pytest.mark.slow
def test_quickstart_runs_on_two_workers(tmp_path):
    out = tmp_path / "quickstart"
    result = kerasopt("run", "quickstart", "training.epochs=2", "--workers", "2", "--output-dir", str(out))
    assert result.returncode == 0, result.stderr[-3000:]
    metrics = json.loads((out / "metrics.json").read_text())
    assert metrics["runtime"]["strategy"] == "multi_worker" and metrics["runtime"]["replicas"] == 2
    assert metrics["runtime"]["weights_divergence"] == 0.0
    assert metrics["evaluation"]["test"]["accuracy"] > 0.6  # 10 classes; 2 epochs reach about 0.9
    tflite = metrics["exports"]["tflite"]
    assert tflite["accuracy"] == pytest.approx(tflite["keras_accuracy"], abs=0.01)
    assert (out / "model.tflite").exists() and (out / "workers" / "worker-1.log").exists()


@pytest.mark.slow
def test_batch_size_search_and_lr_range_test_run_on_two_workers(tmp_path):
    # Both train on purpose before `fit` and then put the optimizer back: its slots must be
    # built in the strategy's scope ("Need to be inside `with strategy.scope()`" before).
    recipe = write_tiny_recipe(tmp_path, data={"batch_size": "auto"}, training={
        "epochs": 1, "optimizer": {"type": "adam", "learning_rate": "auto"}})
    out = tmp_path / "auto"
    result = kerasopt("run", recipe, "--workers", "2", "--output-dir", str(out))
    assert result.returncode == 0, result.stderr[-3000:]
    assert "LR range test suggests learning_rate=" in result.stdout + result.stderr
    metrics = json.loads((out / "metrics.json").read_text())
    assert metrics["runtime"]["replicas"] == 2 and metrics["runtime"]["weights_divergence"] == 0.0
    assert metrics["batch_size_search"]["batch_size"] >= 8 and metrics["timing"]["train_steps"] > 0


@pytest.fixture
def no_cluster(monkeypatch):
    for name in ("TF_CONFIG", "SLURM_PROCID", "SLURM_NTASKS", "SLURM_STEP_NUM_TASKS"):
        monkeypatch.delenv(name, raising=False)


def test_multi_worker_without_a_cluster_is_a_usage_error_that_writes_nothing(tmp_path, no_cluster, capsys):
    recipe = write_tiny_recipe(tmp_path)
    out = tmp_path / "out"
    assert cli.main(["run", recipe, "runtime.strategy=multi_worker", "--output-dir", str(out)]) == 2
    error = capsys.readouterr().err
    assert "runtime.strategy: 'multi_worker' needs a cluster" in error and "--workers N" in error
    assert not out.exists()


@pytest.mark.skipif(bool(tf.config.list_physical_devices("GPU")), reason="needs a machine without a GPU")
@pytest.mark.parametrize(("overrides", "fragment"), [
    (["runtime.device=gpu"], "runtime.device: 'gpu' was requested, but TensorFlow sees no GPU"),
    (["runtime.device=gpu", "runtime.strategy=mirrored"], "runtime.device: 'gpu' was requested"),
    (["runtime.device=tpu"], "runtime.device: 'tpu' was requested, but no TPU could be reached"),
    (["runtime.strategy=tpu"], "runtime.device: 'tpu' was requested, but no TPU could be reached"),
    (["runtime.device=tpu", "runtime.strategy=mirrored"], "device='tpu' with strategy='mirrored' cannot work"),
])
def test_absent_hardware_exits_1_with_one_message(tmp_path, no_cluster, capsys, overrides, fragment):
    recipe = write_tiny_recipe(tmp_path)
    out = tmp_path / "out"
    assert cli.main(["run", recipe, *overrides, "--output-dir", str(out)]) == 1
    error = capsys.readouterr().err
    assert fragment in error and "Traceback" not in error
    assert not out.exists()


def test_workers_inside_a_cluster_or_below_one_are_usage_errors(tmp_path, monkeypatch, capsys):
    recipe = write_tiny_recipe(tmp_path)
    with pytest.raises(SystemExit) as info:
        cli.main(["run", recipe, "--workers", "0"])
    assert info.value.code == 2 and "--workers: must be an integer >= 1, received '0'" in capsys.readouterr().err
    monkeypatch.setenv("TF_CONFIG", json.dumps({"cluster": {"worker": ["a:1"]}, "task": {"type": "worker"}}))
    assert cli.main(["run", recipe, "--workers", "2", "--output-dir", str(tmp_path / "out")]) == 2
    assert "TF_CONFIG is already set" in capsys.readouterr().err
    assert not (tmp_path / "out").exists()


def test_a_local_workers_resume_command_starts_the_workers_again(tmp_path, monkeypatch):
    import shlex
    from types import SimpleNamespace

    from kerasopt.distribute.launch import LOCAL_WORKERS_ENV, STRATEGY_OVERRIDE
    from kerasopt.recipe.check.loader import load_recipe
    from kerasopt.recipe.run.runner import resume_command

    # What a worker of `kerasopt run quickstart training.epochs=2 --workers 3` loads, its
    # output going to the launcher (not a terminal): the progress override is not the user's.
    loaded = load_recipe("quickstart", ["training.epochs=2", STRATEGY_OVERRIDE, "runtime.verbose=2"])
    run_dir = SimpleNamespace(root=tmp_path / "out")
    monkeypatch.setenv(LOCAL_WORKERS_ENV, "3")
    words = shlex.split(resume_command(loaded, run_dir))
    assert words[3:] == ["training.epochs=2", "--workers", "3", "--output-dir", str(tmp_path / "out"), "--resume"]
    monkeypatch.delenv(LOCAL_WORKERS_ENV)  # a worker of a real cluster keeps its override
    words = shlex.split(resume_command(loaded, run_dir))
    assert words[3:5] == ["training.epochs=2", STRATEGY_OVERRIDE] and "--workers" not in words
