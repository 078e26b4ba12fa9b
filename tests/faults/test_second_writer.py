"""Fault: a second writer into a live or finished run directory (issue 19, item 5).

One writer per run directory, held by the kernel: a second `kerasopt run` into a live
run is refused with exit 2, before TensorFlow starts, also after the lock's record file
was deleted; once the first run is SIGKILLed the kernel has freed the lock and
`--resume` finishes the run.
"""

from __future__ import annotations

import json
import signal
import time
from pathlib import Path

import pytest

from kerasopt.cli import main
from kerasopt.recipe.store.run_lock import LOCK_NAME
from tests.faults.cli_process import kerasopt
from tests.subprocesses import finish, start_python
from tests.tiny_recipe import write_tiny_recipe

# `kerasopt run ARGS` (the command line, as a user starts it) that stops for good after its
# second epoch (Keras's History runs after the run's backup), once it has said so in a file.
PAUSED_RUN = """
import pathlib, sys, time
import keras
from kerasopt.cli import main

original = keras.callbacks.History.on_epoch_end

def pause(self, epoch, logs=None):
    original(self, epoch, logs)
    if epoch == 1:
        pathlib.Path(sys.argv[1]).write_text("training")
        time.sleep(900)

keras.callbacks.History.on_epoch_end = pause
sys.exit(main(sys.argv[2:]))
"""


def _snapshot(folder: Path) -> dict[str, bytes]:
    return {str(p.relative_to(folder)): p.read_bytes() for p in sorted(folder.rglob("*")) if p.is_file()}


@pytest.mark.slow
def test_a_second_writer_is_refused_at_once_until_the_first_is_killed(tmp_path, capsys):
    recipe, out = write_tiny_recipe(tmp_path, training={"epochs": 4}), tmp_path / "out"
    marker = tmp_path / "training"
    first = start_python("-c", PAUSED_RUN, str(marker), "run", recipe, "--output-dir", str(out),
                         env={"TF_CPP_MIN_LOG_LEVEL": "3"})
    try:
        deadline = time.monotonic() + 600
        while not marker.exists():
            assert first.poll() is None, first.communicate()[1][-3000:]
            assert time.monotonic() < deadline, "the first run never reached its second epoch"
            time.sleep(0.2)
        before = _snapshot(out)
        held = f"the run directory {out} is in use by another run (process {first.pid} on "
        seconds = {}
        for name, flags in (("resume", ["--resume"]), ("run", []), ("overwrite", ["--overwrite"])):
            outcome = kerasopt("run", recipe, "--output-dir", str(out), *flags)
            assert outcome.code == 2 and held in outcome.stderr, outcome.stderr
            assert not outcome.imported_tensorflow, "refused before TensorFlow starts"
            seconds[name] = outcome.seconds
        (out / LOCK_NAME).unlink()  # the record of who holds the lock, not the lock
        outcome = kerasopt("run", recipe, "--output-dir", str(out), "--resume")
        assert outcome.code == 2, outcome.stderr
        assert f"the run directory {out} is in use by another run (a process whose record" in outcome.stderr
        assert not outcome.imported_tensorflow
        seconds["resume, record deleted"] = outcome.seconds
        del before[LOCK_NAME]
        assert _snapshot(out) == before, "the refused writers wrote nothing"
        with capsys.disabled():  # the numbers for the record (pytest -s shows them)
            print("seconds to refuse:", {k: round(v, 2) for k, v in seconds.items()})
    finally:
        first.send_signal(signal.SIGKILL)
        killed = finish(first, timeout=60)
    assert killed.returncode == -signal.SIGKILL
    capsys.readouterr()
    assert main(["run", recipe, "--output-dir", str(out), "--resume"]) == 0
    metrics = json.loads((out / "metrics.json").read_text())
    assert metrics["timing"]["train_steps"] == 4 * 11 and len(metrics["stages"][0]["history"]["loss"]) == 4
    assert not (out / LOCK_NAME).exists()


def test_a_finished_run_directory_is_refused_before_tensorflow_starts(tmp_path):
    recipe, out = write_tiny_recipe(tmp_path, training={"epochs": 1}), tmp_path / "out"
    assert main(["run", recipe, "--output-dir", str(out)]) == 0
    before = _snapshot(out)
    outcome = kerasopt("run", recipe, "--output-dir", str(out))
    assert outcome.code == 2 and f"{out} already holds a finished run." in outcome.stderr, outcome.stderr
    assert not outcome.imported_tensorflow
    assert _snapshot(out) == before
