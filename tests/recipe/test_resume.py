"""Exact resume: step budget, whole-stage history and time, backups on a time budget, corrupt
backups, SIGTERM/SIGINT, and a SIGKILLed deterministic run that ends as if never stopped."""

from __future__ import annotations

import json
import os
import shlex
import shutil
import signal
import time
from pathlib import Path

import keras
import numpy as np
import pytest

from kerasopt.cli import main
from kerasopt.recipe.check.loader import load_recipe
from kerasopt.recipe.run.assemble import StagePlan
from kerasopt.recipe.run.run_callbacks import StepLimit, runner_callbacks
from kerasopt.recipe.run.runner import run
from kerasopt.recipe.store.run_dir import RunDirectory
from kerasopt.recipe.store.run_lock import LOCK_NAME
from kerasopt.recipe.store.stage_backup import StageBackup
from tests.subprocesses import CliProcess, finish, start_python
from tests.tiny_recipe import write_tiny_recipe

# Dropout (seed generator state) and noise augmentation (per-batch seeds) must come back too.
RANDOM = {"model": {"units": [8], "dropout": 0.3},
          "data": {"augmentation": [{"type": "noise", "stddev": 0.1}]}}


def crash_at(monkeypatch, epoch: int, first_epoch_sleep: float = 0.0):
    """Make `fit` fail at the end of `epoch` (after that epoch's backup: Keras's History runs last)."""
    original = keras.callbacks.History.on_epoch_end

    def crash(self, index, logs=None):
        original(self, index, logs)
        if index == 0:
            time.sleep(first_epoch_sleep)
        if index == epoch:
            raise RuntimeError("simulated crash")

    monkeypatch.setattr(keras.callbacks.History, "on_epoch_end", crash)
    return lambda: monkeypatch.setattr(keras.callbacks.History, "on_epoch_end", original)


@pytest.mark.slow
def test_a_resumed_step_budget_stops_exactly_with_the_whole_history_and_time(tmp_path, monkeypatch):
    # 162 training examples in batches of 16: 11 steps per epoch; 30 steps = 11 + 11 + 8.
    path = write_tiny_recipe(tmp_path, training={"steps": 30, "epochs": None}, **RANDOM)
    straight = run(load_recipe(path), output_dir=str(tmp_path / "straight"))
    out = tmp_path / "out"
    restore = crash_at(monkeypatch, 1, first_epoch_sleep=2.0)
    with pytest.raises(RuntimeError, match="simulated crash"):
        run(load_recipe(path), output_dir=str(out))
    restore()
    backed_up = json.loads((out / "checkpoints" / "backup_train" / "backup.json").read_text())
    assert backed_up["epoch"] == 2 and backed_up["steps"] == 22 and backed_up["seconds"] >= 2.0
    metrics = run(load_recipe(path), output_dir=str(out), resume=True)
    (stage,) = metrics["stages"]
    assert metrics["timing"]["train_steps"] == stage["steps"] == 30  # not 33: the last epoch stays short
    assert metrics["timing"]["fit_seconds"] >= backed_up["seconds"]
    assert stage["epochs"] == 3
    for key, values in straight["stages"][0]["history"].items():
        np.testing.assert_allclose(stage["history"][key], values, rtol=1e-6, err_msg=key)
    assert metrics["evaluation"]["test"]["loss"] == pytest.approx(straight["evaluation"]["test"]["loss"], rel=1e-6)
    assert not (out / "checkpoints" / "backup_train").exists(), "a finished stage's backup is deleted"


def test_step_limit_counts_the_steps_before_a_resume():
    limit = StepLimit(30)
    limit.set_model(keras.Sequential([keras.Input((1,)), keras.layers.Dense(1)]))
    limit.model.stop_training = False
    limit.done_before = 22
    limit.on_train_begin()
    stops = []
    for batch in range(11):
        limit.on_train_batch_begin(batch)
        stops.append(limit.model.stop_training)
    assert stops.index(True) == 7  # the 8th batch is the 30th step


def _fit_with(backup: StageBackup, epochs: int) -> None:
    model = keras.Sequential([keras.Input((2,)), keras.layers.Dense(1)])
    model.compile("sgd", "mse")
    backup.set_model(model)
    backup.resume()
    x = np.ones((4, 2), "float32")
    model.fit(x, x[:, :1], epochs=epochs, verbose=0, callbacks=[backup])


def test_backups_also_follow_the_clock(tmp_path):
    run_dir = RunDirectory(tmp_path)
    # An endless stage (epochs: 1e29) never reaches its tenth: the clock alone triggers backups.
    (every_tenth,) = [c for c in runner_callbacks(None, StagePlan(10**29, 1, 10**29), run_dir, "s", None,
                                                  backup_minutes=0.5) if isinstance(c, StageBackup)]
    assert every_tenth.every_epochs == 10**28 and every_tenth.every_seconds == 30.0
    _fit_with(StageBackup(run_dir, "a", every_epochs=10**28, every_seconds=1e-9), epochs=3)
    assert json.loads((tmp_path / "a" / "backup.json").read_text())["epoch"] == 3
    assert json.loads((tmp_path / "a" / "backup.prev.json").read_text())["epoch"] == 2
    assert sorted(p.name for p in (tmp_path / "a").glob("epoch_*")) == ["epoch_2.weights.h5", "epoch_3.weights.h5"]
    _fit_with(StageBackup(run_dir, "b", every_epochs=10**28, every_seconds=3600.0), epochs=3)
    assert not (tmp_path / "b").exists()


@pytest.fixture(scope="module")
def interrupted(tmp_path_factory) -> tuple[str, Path]:
    """A six-epoch run that crashed after epoch 4: made once, copied by `_interrupted_run`."""
    folder = tmp_path_factory.mktemp("interrupted")
    path = write_tiny_recipe(folder, training={"epochs": 6})
    out = folder / "out"
    with pytest.MonkeyPatch.context() as monkeypatch:
        crash_at(monkeypatch, 3)  # backups after epochs 1-4; the newest is epoch 4's
        with pytest.raises(RuntimeError, match="simulated crash"):
            run(load_recipe(path), output_dir=str(out))
    return path, out


def _interrupted_run(interrupted, tmp_path) -> tuple[str, Path]:
    """The recipe of `interrupted` and a copy of its run directory."""
    path, out = interrupted
    shutil.copytree(out, tmp_path / "out")
    return path, tmp_path / "out"


def test_a_corrupt_backup_is_named_and_the_previous_one_is_used(interrupted, tmp_path, capsys):
    path, out = _interrupted_run(interrupted, tmp_path)
    newest = out / "checkpoints" / "backup_train" / "epoch_4.weights.h5"
    newest.write_bytes(newest.read_bytes()[:5000])
    assert main(["run", path, "--output-dir", str(out), "--resume"]) == 0
    note = capsys.readouterr().err
    assert f"{newest} is corrupt (" in note
    assert "resuming from the previous backup" in note and "(after epoch 3)" in note
    metrics = json.loads((out / "metrics.json").read_text())
    assert metrics["timing"]["train_steps"] == 6 * 11 and len(metrics["stages"][0]["history"]["loss"]) == 6


def test_without_a_readable_backup_resume_names_every_file_and_fails(interrupted, tmp_path, capsys):
    path, out = _interrupted_run(interrupted, tmp_path)
    folder = out / "checkpoints" / "backup_train"
    (folder / "backup.json").write_text('{"epoch": 4, "weig')
    (folder / "epoch_3.weights.h5").write_bytes(b"not hdf5")
    assert main(["run", path, "--output-dir", str(out), "--resume"]) == 1
    message = capsys.readouterr().err
    assert f"{folder / 'backup.json'} is corrupt (not valid JSON" in message
    assert f"{folder / 'epoch_3.weights.h5'} is corrupt (" in message
    assert "no readable backup" in message and "Traceback" not in message
    assert not (out / LOCK_NAME).exists()


def test_a_corrupt_progress_file_is_named(interrupted, tmp_path, capsys):
    path, out = _interrupted_run(interrupted, tmp_path)
    (out / "checkpoints" / "progress.json").write_text("{")
    assert main(["run", path, "--output-dir", str(out), "--resume"]) == 1
    assert f"{out / 'checkpoints' / 'progress.json'} is corrupt" in capsys.readouterr().err


@pytest.mark.parametrize(("signum", "code"), [(signal.SIGTERM, 143), (signal.SIGINT, 130)])
def test_a_signal_stops_the_run_with_the_resume_command(tmp_path, monkeypatch, capsys, signum, code):
    path = write_tiny_recipe(tmp_path, training={"epochs": 6})
    out = tmp_path / "out"
    original = keras.callbacks.History.on_epoch_end

    def preempt(self, index, logs=None):
        original(self, index, logs)
        if index == 2:
            os.kill(os.getpid(), signum)

    monkeypatch.setattr(keras.callbacks.History, "on_epoch_end", preempt)
    assert main(["run", path, "--output-dir", str(out)]) == code
    monkeypatch.setattr(keras.callbacks.History, "on_epoch_end", original)
    lines = capsys.readouterr().err.strip().splitlines()
    assert lines[0] == (f"kerasopt: stopped by {signal.Signals(signum).name}. Kept: stage 'train' "
                        "from its backup after epoch 3. Continue with:")
    command = shlex.split(lines[1])
    assert command == ["kerasopt", "run", path, "--output-dir", str(out), "--resume"]
    assert not (out / LOCK_NAME).exists()
    assert signal.getsignal(signal.SIGTERM) is signal.SIG_DFL, "handlers are put back"
    assert main(command[1:]) == 0
    assert json.loads((out / "metrics.json").read_text())["timing"]["train_steps"] == 6 * 11


def _same_numbers(got: dict, expected: dict) -> None:
    assert got["evaluation"]["test"]["loss"] == pytest.approx(expected["evaluation"]["test"]["loss"], rel=1e-6)
    for ours, theirs in zip(got["stages"], expected["stages"], strict=True):
        for key, values in theirs["history"].items():
            np.testing.assert_allclose(ours["history"][key], values, rtol=1e-6, err_msg=key)


@pytest.mark.slow
def test_resuming_between_stages_or_past_a_corrupt_stage_file_gives_the_same_numbers(tmp_path, capsys):
    path = write_tiny_recipe(tmp_path, training={}, stages=[{"name": "a", "epochs": 1}, {"name": "b", "epochs": 2}],
                             **RANDOM)
    straight = run(load_recipe(path), output_dir=str(tmp_path / "straight"))

    class CrashAsStageBStarts(keras.callbacks.Callback):
        fits = 0

        def on_train_begin(self, logs=None):
            CrashAsStageBStarts.fits += 1
            if CrashAsStageBStarts.fits == 2:
                raise RuntimeError("simulated crash")

    out = tmp_path / "out"
    with pytest.raises(RuntimeError, match="simulated crash"):
        run(load_recipe(path), output_dir=str(out), callbacks=[CrashAsStageBStarts()])
    # Stage a is loaded from its file, with its dropout seed state; b starts from the beginning.
    _same_numbers(run(load_recipe(path), output_dir=str(out), resume=True), straight)
    stage_b = out / "checkpoints" / "stage_1_b.weights.h5"
    stage_b.write_bytes(b"junk")
    capsys.readouterr()
    _same_numbers(run(load_recipe(path), output_dir=str(out), resume=True), straight)
    assert f"{stage_b} is corrupt (" in capsys.readouterr().err


KILLED_RUN = """
import os, signal, sys
import keras
from kerasopt.recipe.check.loader import load_recipe
from kerasopt.recipe.run.runner import run

class KillInSecondStage(keras.callbacks.Callback):
    fits = 0
    def on_train_begin(self, logs=None):
        KillInSecondStage.fits += 1
    def on_train_batch_begin(self, batch, logs=None):
        if KillInSecondStage.fits == 2 and self.epoch == 2 and batch == 3:
            os.kill(os.getpid(), signal.SIGKILL)
    def on_epoch_begin(self, epoch, logs=None):
        self.epoch = epoch

run(load_recipe(sys.argv[1]), output_dir=sys.argv[2], callbacks=[KillInSecondStage()])
"""


ENV = {"TF_CPP_MIN_LOG_LEVEL": "3", "TF_ENABLE_ONEDNN_OPTS": "0"}


@pytest.mark.slow
def test_a_deterministic_run_killed_mid_stage_resumes_to_the_same_numbers(tmp_path):
    path = write_tiny_recipe(tmp_path, runtime={"deterministic": True}, training={},
                             stages=[{"name": "a", "epochs": 2}, {"name": "b", "epochs": 5}], **RANDOM)
    kerasopt = CliProcess(env=ENV)  # the straight run, then the resume: one TensorFlow start for both
    try:
        kerasopt.send("run", path, "--output-dir", str(tmp_path / "straight"))
        killed = finish(start_python("-c", KILLED_RUN, path, str(tmp_path / "out"), env=ENV))  # meanwhile
        straight = kerasopt.receive()
        assert straight.returncode == 0, straight.stderr
        assert killed.returncode == -signal.SIGKILL, killed.stderr
        assert json.loads((tmp_path / "out" / "checkpoints" / "backup_b" / "backup.json").read_text())["epoch"] == 2
        resumed = kerasopt("run", path, "--output-dir", str(tmp_path / "out"), "--resume")
    finally:
        kerasopt.close()
    assert resumed.returncode == 0, resumed.stderr
    assert "taking over the stale lock" in resumed.stderr
    expected = json.loads((tmp_path / "straight" / "metrics.json").read_text())
    got = json.loads((tmp_path / "out" / "metrics.json").read_text())
    assert abs(got["evaluation"]["test"]["loss"] - expected["evaluation"]["test"]["loss"]) < 1e-6
    assert got["timing"]["train_steps"] == expected["timing"]["train_steps"] == 7 * 11
    _same_numbers(got, expected)


def test_backups_carry_the_state_of_the_recipes_stateful_callbacks(tmp_path):
    # EarlyStopping half-way through its patience, with best weights to restore: a backup
    # written then and read into fresh callbacks (as `--resume` does) gives the same state.
    import keras
    import numpy as np

    from kerasopt.callbacks.early_stopping import EarlyStopping
    from kerasopt.recipe.store.run_dir import RunDirectory
    from kerasopt.recipe.store.stage_backup import StageBackup

    model = keras.Sequential([keras.Input((2,)), keras.layers.Dense(1)])
    model.compile("sgd", "mse")
    stopper = EarlyStopping(patience=5, restore_best_weights=True)
    stopper.set_model(model)
    stopper.on_train_begin()
    stopper.on_epoch_end(0, {"val_loss": 1.0, "loss": 1.0})
    best = [w.copy() for w in model.get_weights()]
    model.layers[0].kernel.assign(np.ones((2, 1), "float32"))
    stopper.on_epoch_end(1, {"val_loss": 2.0, "loss": 1.0})
    assert stopper.wait == 1

    run_dir = RunDirectory(tmp_path / "run")
    backup = StageBackup(run_dir, "checkpoints/backup_s")
    backup.set_model(model)
    assert backup.resume(None, [stopper]) == 0
    backup.save(2)

    fresh = EarlyStopping(patience=5, restore_best_weights=True)
    fresh.set_model(model)
    again = StageBackup(run_dir, "checkpoints/backup_s")
    again.set_model(model)
    assert again.resume(None, [fresh]) == 2
    fresh.on_train_begin()  # fit's own start keeps a loaded state
    assert (fresh.wait, fresh.best, fresh.best_epoch) == (1, 1.0, 0)
    for kept, original in zip(fresh.best_weights, best, strict=True):
        np.testing.assert_array_equal(kept, original)
