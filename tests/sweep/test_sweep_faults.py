"""Sweeps that survive faults (issue 20): a SIGKILLed trial is failed by its heartbeat and run
again from its backup, by the next `kerasopt sweep` or by another process sharing the study (on
SQLite, and on a real PostgreSQL server); `sweep` and `compare` print none of TensorFlow's
start-up lines."""

from __future__ import annotations

import json
import os
import re
import signal
import threading
import time
from pathlib import Path

import pytest

optuna = pytest.importorskip("optuna")

from tests.subprocesses import finish, start_python  # noqa: E402
from tests.sweep.postgres_cluster import postgres_cluster  # noqa: E402
from tests.tiny_recipe import write_tiny_recipe  # noqa: E402

EPOCHS = 12  # backed up after every epoch (a stage is backed up about ten times)
NOISE = re.compile(r"cuda|absl|oneDNN|cpu_feature_guard|matplotlib|^[IWE]\d{4} ", re.IGNORECASE | re.MULTILINE)
BACKUP = Path("checkpoints", "backup_train", "backup.json")


def _recipe(folder: Path) -> str:
    return write_tiny_recipe(folder, data={"samples": 1200}, training={"epochs": EPOCHS},
                             runtime={"verbose": 0, "tensorboard": {"enabled": True}})


class Sweeper:
    """A `kerasopt sweep` process whose stdout lines are collected as they come."""

    def __init__(self, *args: str) -> None:
        self.process = start_python("-m", "kerasopt.cli", "sweep", *args, "--heartbeat", "1",
                                    env={"PYTHONUNBUFFERED": "1", "TF_CPP_MIN_LOG_LEVEL": "0"})
        self.lines: list[str] = []
        self._reader = threading.Thread(target=self._read, daemon=True)
        self._reader.start()

    def _read(self) -> None:
        for line in self.process.stdout:
            self.lines.append(line.rstrip("\n"))

    def started(self) -> set[int]:
        """Numbers of the trials this process started."""
        return {int(m[1]) for line in list(self.lines) if (m := re.match(r"trial (\d+): ", line))}

    def wait(self, timeout: float = 600) -> tuple[int, str, str]:
        with self.process.stderr:
            stderr = self.process.stderr.read()
        code = self.process.wait(timeout=timeout)
        self._reader.join(timeout=10)
        self.process.stdout.close()
        return code, "\n".join(self.lines), stderr


def _wait_for(condition, what: str, timeout: float = 600) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.02)


def _kill_at_first_backup(victim: Sweeper, out: Path, alive: Sweeper | None = None) -> tuple[int, int]:
    """SIGKILL `victim` as soon as one of its trials has a backup; returns (trial number, backup epoch)."""
    def backed_up() -> list[int]:
        for sweeper in (victim, alive) if alive is not None else (victim,):
            assert sweeper.process.poll() is None, f"a sweep ended before the kill: {sweeper.wait()}"
        return [n for n in victim.started() if (out / f"trial_{n}" / BACKUP).exists()]

    _wait_for(backed_up, "a trial's first backup")
    number = min(backed_up())
    victim.process.send_signal(signal.SIGKILL)
    code, _, _ = victim.wait()
    assert code == -signal.SIGKILL
    epoch = json.loads((out / f"trial_{number}" / BACKUP).read_text())["epoch"]
    assert 1 <= epoch < EPOCHS and not (out / f"trial_{number}" / "metrics.json").exists()
    return number, epoch


def _check_rerun(study: optuna.Study, out: Path, killed: int, epoch: int, complete: int) -> None:
    """The killed trial failed and a retry finished it in its run directory, from its backup."""
    trials = study.get_trials()
    states = {t.number: t.state for t in trials}
    assert sum(s == optuna.trial.TrialState.COMPLETE for s in states.values()) == complete
    assert states[killed] == optuna.trial.TrialState.FAIL and len(trials) == complete + 1
    (retry,) = [t for t in trials if t.system_attrs.get("failed_trial") == killed]
    assert retry.state == optuna.trial.TrialState.COMPLETE and retry.params == trials[killed].params
    assert retry.user_attrs["run_dir"] == f"trial_{killed}" and not (out / f"trial_{retry.number}").exists()
    record = json.loads((out / f"trial_{killed}" / "trial.json").read_text())
    assert record["number"] == retry.number and record["runs_again"] == killed
    assert len(record["intermediate"]) == EPOCHS - epoch  # resumed from the backup, not trained again
    metrics = json.loads((out / f"trial_{killed}" / "metrics.json").read_text())
    assert metrics["stages"][0]["epochs"] == EPOCHS and metrics["timing"]["train_steps"] == EPOCHS * 51
    assert retry.value == metrics["evaluation"]["validation"]["loss"]
    # No trial counted twice: one run directory per complete trial, each with its own metrics.
    run_dirs = [t.user_attrs["run_dir"] for t in trials if t.state == optuna.trial.TrialState.COMPLETE]
    assert len(set(run_dirs)) == complete
    assert sorted(p.parent.name for p in out.glob("trial_*/metrics.json")) == sorted(run_dirs)


@pytest.mark.slow  # a sweep killed mid-trial, the same sweep again, then `compare`: three TensorFlow processes
def test_a_killed_trial_is_failed_and_run_again_from_its_backup_by_the_next_sweep(tmp_path):
    out = tmp_path / "sweep"
    args = [_recipe(tmp_path), "--param", "training.optimizer.learning_rate=choice(0.01)", "--sampler",
            "grid", "--output-dir", str(out)]
    killed, epoch = _kill_at_first_backup(Sweeper(*args), out)
    storage = f"sqlite:///{out / 'study.db'}"
    (running,) = optuna.load_study(study_name="tiny", storage=storage).get_trials()
    assert running.state == optuna.trial.TrialState.RUNNING  # until its heartbeat is found stale

    code, stdout, stderr = Sweeper(*args).wait()
    assert code == 0, stderr
    _check_rerun(optuna.load_study(study_name="tiny", storage=storage), out, killed, epoch, complete=1)
    assert "trial 1: training.optimizer.learning_rate=0.01 (trial 0 again, its process died: resuming" in stdout
    assert "study 'tiny': 2 trials (1 complete, 1 fail); complete trials count towards --trials 1" in stdout
    assert "  trial 0 failed: its process stopped (no heartbeat: killed, or its machine lost); run again as trial 1" in stdout
    assert NOISE.search(stderr) is None, stderr  # as quiet as `kerasopt run`

    compare = finish(start_python("-m", "kerasopt.cli", "compare", str(out / "trial_0"), "--output",
                                  str(tmp_path / "compare.html"), env={"TF_CPP_MIN_LOG_LEVEL": "0"}))
    assert compare.returncode == 0, compare.stderr
    assert compare.stderr == ""  # TensorBoard's reader loads TensorFlow, without its start-up lines
    assert "0.01" in (tmp_path / "compare.html").read_text()


@pytest.mark.slow  # two sweep processes and a throwaway PostgreSQL server
def test_two_sweeps_share_a_postgresql_study_and_one_reruns_the_others_killed_trial(tmp_path):
    out = tmp_path / "sweep"
    with postgres_cluster() as url:
        args = [_recipe(tmp_path), "--param", "training.optimizer.learning_rate=loguniform(1e-3,1e-1)",
                "--sampler", "random", "--trials", "2", "--output-dir", str(out), "--storage", url]
        first, second = Sweeper(*args), Sweeper(*args)
        try:
            # Whichever backs a trial up first is killed; the other is then running or waiting.
            _wait_for(lambda: any((out / f"trial_{n}" / BACKUP).exists() for s in (first, second)
                                  for n in s.started()), "a trial's first backup")
            victim = next(s for s in (first, second) if any((out / f"trial_{n}" / BACKUP).exists()
                                                             for n in s.started()))
            survivor = second if victim is first else first
            killed, epoch = _kill_at_first_backup(victim, out, alive=survivor)
            code, stdout, stderr = survivor.wait()
            assert code == 0, stderr
            _check_rerun(optuna.load_study(study_name="tiny", storage=url), out, killed, epoch, complete=2)
            assert f"(trial {killed} again, its process died: resuming" in stdout
            assert NOISE.search(stderr) is None, stderr
        finally:
            for sweeper in (first, second):
                if sweeper.process.poll() is None:  # a failed assertion: stop it
                    sweeper.process.kill()
                    sweeper.wait()
    assert os.path.isfile(out / "report.html")


@pytest.mark.slow  # one TensorFlow process
def test_sigterm_stops_a_sweep_like_ctrl_c_with_the_trial_marked_and_the_command_to_continue(tmp_path):
    # Before, SIGTERM killed the sweep at once: exit -15, no message, the trial's lock left behind.
    out = tmp_path / "sweep"
    sweeper = Sweeper(_recipe(tmp_path), "--param", "training.optimizer.learning_rate=choice(0.01)",
                      "--sampler", "grid", "--output-dir", str(out))
    _wait_for(lambda: sweeper.process.poll() is None and (out / "trial_0" / BACKUP).exists(), "a backup")
    sweeper.process.send_signal(signal.SIGTERM)
    code, stdout, stderr = sweeper.wait()
    assert code == 143, stderr[-3000:]
    assert "kerasopt: sweep interrupted" in stdout + stderr and "Traceback" not in stdout + stderr
    command = (stdout + stderr).split("Continue with:\n", 1)[1].splitlines()[0].split()
    assert command[:2] == ["kerasopt", "sweep"] and str(out) in command
    (trial,) = optuna.load_study(study_name="tiny", storage=f"sqlite:///{out / 'study.db'}").get_trials()
    assert trial.state == optuna.trial.TrialState.FAIL and trial.user_attrs["interrupted"] is True
    assert not (out / "trial_0" / ".kerasopt.lock").exists()
    assert json.loads((out / "trial_0" / "trial.json").read_text())["state"] == "interrupted"
