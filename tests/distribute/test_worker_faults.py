"""`kerasopt run --workers 2` through its faults: SIGTERM to the launcher, a worker SIGKILLed, and
`--resume` (on 2 workers and on 1) continuing exactly from the chief's backup.

The uninterrupted reference is the recipe run in one process: two workers train exactly as one
process with the same global batch (tests/distribute/test_multi_worker_run.py), and one
TensorFlow process costs less than a launcher's two.
"""

from __future__ import annotations

import json
import os
import shlex
import signal
import subprocess
import time
from pathlib import Path

import numpy as np
import pytest

from tests.subprocesses import finish, start_python
from tests.tiny_recipe import write_tiny_recipe

EPOCHS = 5


_STARTED: list[subprocess.Popen[str]] = []


def start(*args: str) -> subprocess.Popen[str]:
    process = start_python("-m", "kerasopt.cli", *args, drop=["TF_CONFIG", "KERASOPT_LOCAL_WORKERS"])
    _STARTED.append(process)
    return process


@pytest.fixture(autouse=True)
def _no_process_outlives_its_test():
    """A failing test leaves no launcher running (nor its pipes open for a later test's GC)."""
    yield
    while _STARTED:
        process = _STARTED.pop()
        if process.poll() is None:
            process.kill()  # the launcher's workers die with it (PDEATHSIG)
        process.communicate()


def backup_epoch(run_dir: Path) -> int:
    try:
        return json.loads((run_dir / "checkpoints" / "backup_train" / "backup.json").read_text())["epoch"]
    except (OSError, ValueError, KeyError):
        return 0


def wait_for_backup(process: subprocess.Popen[str], run_dir: Path, after: int) -> int:
    """Wait until this run has written a backup newer than epoch `after`; return its epoch."""
    while backup_epoch(run_dir) <= after:
        assert process.poll() is None, process.communicate()[1][-3000:]
        time.sleep(0.05)
    return backup_epoch(run_dir)


def worker_pid(launcher: subprocess.Popen[str], index: int) -> int:
    """The process of the launcher's worker `index` (its TF_CONFIG names the task)."""
    for pid in Path(f"/proc/{launcher.pid}/task/{launcher.pid}/children").read_text().split():
        environ = Path(f"/proc/{pid}/environ").read_bytes().split(b"\0")
        config = next(v for v in environ if v.startswith(b"TF_CONFIG="))[len("TF_CONFIG="):]
        if json.loads(config)["task"]["index"] == index:
            return int(pid)
    raise AssertionError(f"no worker {index} among the launcher's children")


def printed_resume(stderr: str) -> list[str]:
    line = next(line for line in stderr.splitlines() if line.strip().startswith("kerasopt run "))
    return shlex.split(line)[2:]  # after `kerasopt run`


def history(run_dir: Path) -> dict[str, list[float]]:
    return json.loads((run_dir / "metrics.json").read_text())["stages"][0]["history"]


@pytest.mark.slow
@pytest.mark.skipif(not Path("/proc/self/task").exists(), reason="reads worker processes from /proc (Linux)")
def test_two_workers_stop_on_every_fault_and_resume_exactly_from_the_chief_backup(tmp_path):
    # The uninterrupted reference in one process, beside the first of three runs (~20-60 s each
    # on 2 shared cores): two workers once per fault, each resuming the same run directory,
    # then one worker.
    # (A SIGKILLed launcher's workers: tests/distribute/test_local_workers.py, without TensorFlow.)
    recipe = write_tiny_recipe(tmp_path, training={"epochs": EPOCHS}, runtime={"deterministic": True})
    whole, run = tmp_path / "whole", tmp_path / "run"
    reference = start("run", recipe, "--output-dir", str(whole))

    # 1. SIGTERM to the launcher: both workers stop at one step, 143, the resume command names --workers 2.
    launcher = start("run", recipe, "--workers", "2", "--output-dir", str(run))
    done = wait_for_backup(launcher, run, after=0)
    launcher.send_signal(signal.SIGTERM)
    stopped = finish(launcher, timeout=120)
    assert stopped.returncode == 143, stopped.stderr[-3000:]
    command = printed_resume(stopped.stderr)
    assert command == [recipe, "--workers", "2", "--output-dir", str(run), "--resume"]
    assert "SIGTERM: stopping every worker at the next step" in (run / "workers" / "worker-1.log").read_text()
    assert not (run / ".kerasopt.lock").exists()  # released by the chief
    assert not (run / "metrics.json").exists()

    # 2. Worker 1 SIGKILLed after the next backup: the chief stops within seconds, exit 1, resume command.
    launcher = start("run", *command)
    done = wait_for_backup(launcher, run, after=done)
    os.kill(worker_pid(launcher, 1), signal.SIGKILL)
    killed_at = time.monotonic()
    failed = finish(launcher, timeout=120)
    failure_seconds = time.monotonic() - killed_at
    assert failed.returncode == 1, failed.stderr[-3000:]
    assert "kerasopt: ended: " in failed.stderr, failed.stderr[-3000:]  # with worker 1's SIGKILL
    assert printed_resume(failed.stderr) == command
    assert not (run / ".kerasopt.lock").exists()

    # 3. Resumed on one worker: a note says what changes; the history is the uninterrupted one.
    assert finish(reference, timeout=600).returncode == 0
    resumed = finish(start("run", *command[:-4], "1", *command[-3:]), timeout=600)
    assert resumed.returncode == 0, resumed.stderr[-3000:]
    assert "backed up on 2 replica(s) and resumes on 1" in resumed.stderr
    want, got = history(whole), history(run)
    assert list(got) == list(want) and all(len(got[k]) == EPOCHS for k in got)
    for key, curve in want.items():
        np.testing.assert_allclose(got[key], curve, atol=1e-6, err_msg=key)
    print(f"worker killed -> launcher exit: {failure_seconds:.1f} s")
    assert failure_seconds < 60
