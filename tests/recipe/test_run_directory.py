"""The run directory is never destroyed: refusal, --overwrite, the lock, a full disk, strict JSON."""

from __future__ import annotations

import errno
import json
import os
import shlex
import socket
import subprocess
import sys
from pathlib import Path

import keras
import pytest

from kerasopt.cli import main
from kerasopt.recipe.loader import load_recipe
from kerasopt.recipe.run_dir import RunDirectory, finite_only
from kerasopt.recipe.run_errors import RunRefused
from kerasopt.recipe.run_lock import LOCK_NAME, RunLock
from kerasopt.recipe.runner import run
from tests.tiny_recipe import write_tiny_recipe


def cli(*args: str) -> int:
    return main(["run", *args])


def test_a_directory_holding_a_run_is_refused_and_left_as_it_was(tmp_path, capsys):
    recipe, out = write_tiny_recipe(tmp_path, training={"epochs": 1}), tmp_path / "out"
    assert cli(recipe, "--output-dir", str(out)) == 0
    before = {p: p.read_bytes() for p in out.rglob("*") if p.is_file()}
    capsys.readouterr()
    assert cli(recipe, "--output-dir", str(out)) == 2
    message = capsys.readouterr().err
    assert "already holds a finished run" in message
    assert "--resume to continue" in message and "--overwrite to replace" in message
    assert "another --output-dir" in message and "Traceback" not in message
    assert {p: p.read_bytes() for p in out.rglob("*") if p.is_file()} == before


def test_overwrite_moves_the_old_run_aside_and_deletes_it_only_at_the_end(tmp_path):
    out = tmp_path / "out"
    run(load_recipe(write_tiny_recipe(tmp_path, training={"epochs": 1})), output_dir=str(out))
    old_metrics = (out / "metrics.json").read_text()
    seen: list[list[str]] = []

    class LookAround(keras.callbacks.Callback):
        def on_train_begin(self, logs=None):
            aside = [p for p in out.iterdir() if p.name.startswith(".kerasopt-replaced-")]
            seen.append([(p / "metrics.json").read_text() for p in aside])

    metrics = run(load_recipe(write_tiny_recipe(tmp_path, training={"epochs": 2})), output_dir=str(out),
                  overwrite=True, callbacks=[LookAround()])
    assert seen == [[old_metrics]], "the old run waits aside while the new one trains"
    assert metrics["stages"][0]["epochs"] == 2
    assert sorted(p.name for p in out.iterdir()) == ["checkpoints", "metrics.json", "recipe.yaml"]


def test_a_failed_overwrite_keeps_the_old_run(tmp_path, monkeypatch, capsys):
    recipe, out = write_tiny_recipe(tmp_path, training={"epochs": 1}), tmp_path / "out"
    run(load_recipe(recipe), output_dir=str(out))
    old = (out / "metrics.json").read_text()

    class Crash(keras.callbacks.Callback):
        def on_train_begin(self, logs=None):
            raise RuntimeError("simulated crash")

    # Failing after writing began: the old run stays aside, and a note says where.
    with pytest.raises(RuntimeError, match="simulated crash"):
        run(load_recipe(recipe), output_dir=str(out), overwrite=True, callbacks=[Crash()])
    (aside,) = [p for p in out.iterdir() if p.name.startswith(".kerasopt-replaced-")]
    assert (aside / "metrics.json").read_text() == old
    assert str(aside) in capsys.readouterr().err
    # Failing before writing anything (the disk is full at the first file): the old run comes back.
    out2 = tmp_path / "out2"
    run(load_recipe(recipe), output_dir=str(out2))
    names = sorted(p.name for p in out2.iterdir())
    monkeypatch.setattr(RunDirectory, "write_text", _raise_no_space)
    assert cli(recipe, "--output-dir", str(out2), "--overwrite") == 1
    assert sorted(p.name for p in out2.iterdir()) == names


def _raise_no_space(self, name, text):
    raise OSError(errno.ENOSPC, "No space left on device")


def test_a_folder_that_holds_no_run_is_never_touched(tmp_path, capsys):
    out = tmp_path / "mine"
    out.mkdir()
    (out / "notes.txt").write_text("keep me")
    assert cli(write_tiny_recipe(tmp_path), "--output-dir", str(out), "--overwrite") == 2
    assert "holds no kerasopt run" in capsys.readouterr().err
    assert sorted(p.name for p in out.iterdir()) == ["notes.txt"]


def test_a_locked_directory_is_refused_naming_the_holder(tmp_path, capsys):
    out = tmp_path / "out"
    out.mkdir()
    holder = {"pid": os.getppid(), "host": socket.gethostname(), "started": "2030-01-02T03:04:05+00:00"}
    (out / LOCK_NAME).write_text(json.dumps(holder))
    assert cli(write_tiny_recipe(tmp_path), "--output-dir", str(out)) == 2
    message = capsys.readouterr().err
    assert f"process {os.getppid()}" in message and "started 2030-01-02T03:04:05+00:00" in message
    assert json.loads((out / LOCK_NAME).read_text()) == holder
    assert sorted(p.name for p in out.iterdir()) == [LOCK_NAME], "nothing written"


def test_a_stale_lock_is_taken_over_and_every_lock_is_released(tmp_path, capsys):
    gone = subprocess.Popen([sys.executable, "-c", "pass"])
    gone.wait()
    out = tmp_path / "out"
    out.mkdir()
    (out / LOCK_NAME).write_text(json.dumps({"pid": gone.pid, "host": socket.gethostname(),
                                             "started": "2030-01-02T03:04:05+00:00"}))
    assert cli(write_tiny_recipe(tmp_path, training={"epochs": 1}), "--output-dir", str(out)) == 0
    assert f"stale lock {out / LOCK_NAME} of process {gone.pid}" in capsys.readouterr().err
    assert not (out / LOCK_NAME).exists()


def test_one_lock_per_directory(tmp_path):
    with RunLock(tmp_path) as first:
        assert first.holder()["pid"] == os.getpid()
        with pytest.raises(RunRefused, match=rf"in use by another run \(process {os.getpid()} on "):
            RunLock(tmp_path).acquire()
    assert not (tmp_path / LOCK_NAME).exists()
    RunLock(tmp_path).acquire()  # free again


def test_a_full_disk_is_one_message_leaves_no_half_file_and_the_run_resumes(tmp_path, monkeypatch, capsys):
    recipe, out = write_tiny_recipe(tmp_path, training={"epochs": 6}), tmp_path / "out"
    original = keras.Model.save_weights
    calls = []

    def disk_fills_at_third_backup(self, filepath, *args, **kwargs):
        calls.append(filepath)
        if len(calls) == 3:
            Path(filepath).write_bytes(b"\x89HDF half a file")
            raise OSError(errno.ENOSPC, "No space left on device")
        return original(self, filepath, *args, **kwargs)

    monkeypatch.setattr(keras.Model, "save_weights", disk_fills_at_third_backup)
    assert cli(recipe, "--output-dir", str(out)) == 1
    message = capsys.readouterr().err.strip().splitlines()[0]
    backups = out / "checkpoints" / "backup_train"
    assert message.startswith(f"kerasopt: error: no space left on device while writing {backups / 'epoch_3.weights.h5'}; "
                              "free space and resume with: kerasopt run ")
    # The two backups before (weights, and the best epoch's weights kept for restore_best).
    assert sorted(p.name for p in backups.iterdir()) == [
        "backup.json", "backup.prev.json", "epoch_1.best.npz", "epoch_1.weights.h5",
        "epoch_2.best.npz", "epoch_2.weights.h5"]
    assert not (out / LOCK_NAME).exists()
    monkeypatch.setattr(keras.Model, "save_weights", original)
    command = shlex.split(message.split("resume with: ")[1])
    assert command[:2] == ["kerasopt", "run"] and command[-1] == "--resume"
    assert main(command[1:]) == 0
    metrics = json.loads((out / "metrics.json").read_text())
    assert metrics["timing"]["train_steps"] == 6 * 11 and len(metrics["stages"][0]["history"]["loss"]) == 6


def test_resume_refuses_a_changed_recipe_with_a_diff_unless_forced(tmp_path, capsys):
    recipe, out = write_tiny_recipe(tmp_path, training={"epochs": 1}), tmp_path / "out"
    assert cli(recipe, "--output-dir", str(out)) == 0
    capsys.readouterr()
    assert cli(recipe, "training.epochs=2", "--output-dir", str(out), "--resume") == 2
    message = capsys.readouterr().err
    assert "the recipe differs from the one" in message and "--force" in message
    assert "-  epochs: 1\n+  epochs: 2" in message
    assert cli(recipe, "training.epochs=2", "--output-dir", str(out), "--resume", "--force") == 0
    assert "resuming with a changed recipe" in capsys.readouterr().err


def test_resume_with_other_output_settings_is_not_a_changed_recipe(tmp_path, capsys):
    """A run started into a pipe (verbose 2) resumes from a terminal (verbose 1) without --force."""
    recipe, out = write_tiny_recipe(tmp_path, training={"epochs": 1}), tmp_path / "out"
    assert cli(recipe, "runtime.verbose=2", "runtime.backup_minutes=5", "--output-dir", str(out)) == 0
    capsys.readouterr()
    assert cli(recipe, "runtime.verbose=0", "--output-dir", str(out), "--resume") == 0
    assert "changed recipe" not in capsys.readouterr().err


def test_metrics_json_is_strict_json_and_lists_non_finite_values(tmp_path):
    # SGD at 1e30 overflows the weights at once: losses are NaN.
    path = write_tiny_recipe(tmp_path, training={"epochs": 1, "optimizer": {"type": "sgd", "learning_rate": 1e30}})
    run(load_recipe(path), output_dir=str(tmp_path / "out"))
    text = (tmp_path / "out" / "metrics.json").read_text()
    metrics = json.loads(text, parse_constant=lambda name: pytest.fail(f"{name} in metrics.json"))
    assert metrics["evaluation"]["test"]["loss"] is None
    assert "evaluation.test.loss" in metrics["non_finite"]
    assert "stages[0].history.loss[0]" in metrics["non_finite"]


def test_finite_only_replaces_and_names_every_non_finite_float():
    clean, where = finite_only({"a": [1.0, float("-inf"), {"b": float("nan")}], "c": 2, "d": "nan"})
    assert clean == {"a": [1.0, None, {"b": None}], "c": 2, "d": "nan"}
    assert where == ["a[1]", "a[2].b"]
