"""Fault injection, driven through the command line as a user meets faults (issue 19).

SIGKILL and SIGTERM at each phase of a run (fit, between stages, while a backup, an export
or metrics.json is written), a full disk, and a corrupt file at each place a run reads
back. After each fault: the exit code, what is on disk (every file under a final name is
complete and loadable, a temporary never has a final name), and that `--resume` finishes
the run with exit 0 and the whole run's artifacts.

A phase is hit exactly with `KERASOPT_FAULT=<SIGNAL>:<file name>[:<n>]`
(:func:`kerasopt.atomic.fault_point`): the process signals itself when that file
is complete under its temporary name, just before the rename. A kill during `fit` is
sent from here, once the run directory shows the first backup.
"""

from __future__ import annotations

import json
import os
import shlex
import shutil
import signal
import subprocess
import time
import zipfile
from pathlib import Path

import pytest

from kerasopt.cli import main
from tests.subprocesses import finish, start_python
from tests.tiny_recipe import write_tiny_recipe

ENV = {"TF_CPP_MIN_LOG_LEVEL": "3", "TF_ENABLE_ONEDNN_OPTS": "0"}
STEPS_PER_EPOCH = 11  # 180 training rows of the tiny recipe, batches of 16
# Stage a backs up every 4th epoch (about ten backups per stage), b after every epoch.
STAGES = [{"name": "a", "epochs": 40}, {"name": "b", "epochs": 6}]
EXPORT = {"keras": True, "tflite": {"quantization": "none"}}


def _start(args: list[str], fault: str | None = None) -> subprocess.Popen[str]:
    env = {**ENV, "KERASOPT_FAULT": fault} if fault else ENV
    return start_python("-m", "kerasopt.cli", *args, env=env, drop=("KERASOPT_FAULT",))


def _run(args: list[str], fault: str | None, signum: int, monkeypatch, capsys) -> subprocess.CompletedProcess[str]:
    """`kerasopt ARGS` with `KERASOPT_FAULT=fault`, the run signalling itself at that point.

    A SIGKILL the run sends itself needs a process of its own. A SIGTERM is handled the same
    in this process (as the corrupt-file tests below do), and so is a run without a fault,
    which saves a TensorFlow import.
    """
    if fault and signum == signal.SIGKILL:
        return finish(_start(args, fault))
    if fault:
        monkeypatch.setenv("KERASOPT_FAULT", fault)
    else:
        monkeypatch.delenv("KERASOPT_FAULT", raising=False)
    capsys.readouterr()
    code = main(args)
    out, err = capsys.readouterr()
    return subprocess.CompletedProcess(["kerasopt", *args], code, out, err)


def _kill_when(process: subprocess.Popen[str], path: Path, signum: int) -> None:
    """Send `signum` to `process` as soon as `path` exists (the run is then inside `fit`)."""
    deadline = time.monotonic() + 600
    while not path.exists():
        assert process.poll() is None, f"the run ended before {path} appeared: {process.communicate()}"
        assert time.monotonic() < deadline, f"{path} never appeared"
        time.sleep(0.02)
    process.send_signal(signum)


def _json(path: Path):
    return json.loads(path.read_text())


def _check_disk(out: Path, *, temporaries_allowed: bool) -> set[str]:
    """Every file under a final name is complete and loadable; returns the final names (relative).

    After SIGKILL, hidden temporaries may stay (nothing ran to remove them); after anything
    else there are none.
    """
    import h5py
    from ai_edge_litert.interpreter import Interpreter

    finals, temporaries = set(), []
    for path in out.rglob("*"):
        relative = path.relative_to(out)
        if relative == Path(".kerasopt-run.json"):
            _json(path)  # the run's manifest: always complete
            continue
        if any(part.startswith(".") for part in relative.parts):
            if relative == Path(".kerasopt.lock"):
                continue  # the lock a killed run held (taken over by the next run)
            temporaries.append(str(relative))
            continue
        if path.is_dir():
            continue
        finals.add(str(relative))
        if path.suffix == ".json":
            _json(path)
        elif path.name.endswith(".weights.h5"):
            with h5py.File(path, "r") as handle:
                assert list(handle.keys()), path
        elif path.suffix == ".keras":
            with zipfile.ZipFile(path) as archive:
                assert archive.testzip() is None, path
        elif path.suffix == ".tflite":
            Interpreter(model_path=str(path)).allocate_tensors()
        elif path.suffix in (".yaml", ".npz"):
            assert path.stat().st_size > 0, path
    assert temporaries_allowed or not temporaries, temporaries
    return finals


def _stopped(result: subprocess.CompletedProcess[str], signum: int, resume: list[str]) -> None:
    """Check the exit code and, after SIGTERM, that the printed command is `kerasopt` + `resume`."""
    if signum == signal.SIGKILL:
        assert result.returncode == -signal.SIGKILL, result.stderr
        return
    assert result.returncode == 143, result.stderr
    lines = result.stderr.strip().splitlines()
    assert lines[-2].startswith("kerasopt: stopped by SIGTERM. Kept: "), result.stderr
    assert "Traceback" not in result.stderr
    assert shlex.split(lines[-1]) == ["kerasopt", *resume]


@pytest.mark.slow
@pytest.mark.parametrize("signum", [signal.SIGKILL, signal.SIGTERM], ids=["SIGKILL", "SIGTERM"])
def test_a_run_stopped_at_every_phase_resumes_to_a_complete_run(tmp_path, signum, monkeypatch, capsys):
    """One run directory through five faults in a row, each followed by `--resume`.

    The first fault (a signal sent from outside during `fit`) always hits a `kerasopt`
    process; under SIGTERM the faults the run sends itself, and under both the last
    `--resume`, run in this process (`_run`)."""
    path = write_tiny_recipe(tmp_path, training={}, stages=STAGES, export=EXPORT)
    out = tmp_path / "out"
    resume = ["run", path, "--output-dir", str(out), "--resume"]
    killed = signum == signal.SIGKILL
    name = signal.Signals(signum).name

    # 1. During fit: stage a has a backup, nothing else is done.
    process = _start(["run", path, "--output-dir", str(out)])
    _kill_when(process, out / "checkpoints" / "backup_a" / "backup.json", signum)
    _stopped(finish(process), signum, resume)
    finals = _check_disk(out, temporaries_allowed=killed)
    assert _json(out / "checkpoints" / "progress.json")["completed"] == []
    assert _json(out / "checkpoints" / "backup_a" / "backup.json")["epoch"] % 4 == 0
    assert "metrics.json" not in finals

    # 2. Between stages: stage a's weights are complete but not yet in place.
    _stopped(_run(resume, f"{name}:stage_0_a.weights.h5", signum, monkeypatch, capsys), signum, resume)
    finals = _check_disk(out, temporaries_allowed=killed)
    assert "checkpoints/stage_0_a.weights.h5" not in finals
    assert _json(out / "checkpoints" / "progress.json")["completed"] == []
    assert _json(out / "checkpoints" / "backup_a" / "backup.json")["epoch"] == 40

    # 3. While a backup is written: stage b's third backup record, about to replace the second.
    _stopped(_run(resume, f"{name}:backup.next.json:3", signum, monkeypatch, capsys), signum, resume)
    finals = _check_disk(out, temporaries_allowed=killed)
    assert _json(out / "checkpoints" / "progress.json")["completed"] == ["a"]
    assert not (out / "checkpoints" / "backup_a").exists()
    backups = out / "checkpoints" / "backup_b"
    assert (_json(backups / "backup.json")["epoch"], _json(backups / "backup.prev.json")["epoch"]) == (2, 1)
    assert {p.name for p in backups.glob("epoch_*")} >= {"epoch_1.weights.h5", "epoch_2.weights.h5"}

    # 4. During export: model.tflite is complete under its temporary name.
    _stopped(_run(resume, f"{name}:model.tflite", signum, monkeypatch, capsys), signum, resume)
    finals = _check_disk(out, temporaries_allowed=killed)
    assert "model.tflite" not in finals
    assert _json(out / "checkpoints" / "progress.json")["completed"] == ["a", "b"]
    assert _json(out / "metrics.json")["exports"] == {}  # written before the exports

    # 5. While the final metrics.json is written (after the exports).
    _stopped(_run(resume, f"{name}:metrics.json:2", signum, monkeypatch, capsys), signum, resume)
    finals = _check_disk(out, temporaries_allowed=killed)
    assert {"model.tflite", "model.keras"} <= finals
    assert _json(out / "metrics.json")["exports"] == {}
    assert killed or not (out / ".kerasopt.lock").exists()

    # The printed (SIGTERM) or obvious (SIGKILL) command finishes the run.
    result = _run(resume, None, signum, monkeypatch, capsys)
    assert result.returncode == 0, result.stderr
    if killed:
        assert "taking over the stale lock" in result.stderr
    _check_disk(out, temporaries_allowed=False)  # a killed run's temporaries are gone too
    metrics = _json(out / "metrics.json")
    assert [len(s["history"]["loss"]) for s in metrics["stages"]] == [40, 6]
    assert metrics["timing"]["train_steps"] == 46 * STEPS_PER_EPOCH
    for kind, file in (("keras", "model.keras"), ("tflite", "model.tflite")):
        assert metrics["exports"][kind]["bytes"] == (out / file).stat().st_size
    assert metrics["exports"]["tflite"]["accuracy"] == pytest.approx(
        metrics["evaluation"]["test"]["accuracy"], abs=0.02)
    assert not list((out / "checkpoints").glob("backup_*"))
    assert not (out / ".kerasopt.lock").exists()


# --- Corrupt files where a run reads back ------------------------------------------------


@pytest.fixture(scope="module")
def interrupted(tmp_path_factory):
    """A run stopped (SIGTERM, in this process) in stage b after its backup of epoch 3:
    stage a is complete; b's `backup.json` is epoch 3's, `backup.prev.json` epoch 2's."""
    folder = tmp_path_factory.mktemp("interrupted")
    path = write_tiny_recipe(folder, training={}, stages=[{"name": "a", "epochs": 2}, {"name": "b", "epochs": 6}])
    out = folder / "out"
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("KERASOPT_FAULT", "SIGTERM:backup.next.json:6")  # 2 in stage a, then b's 4th
        assert main(["run", path, "--output-dir", str(out)]) == 143
    return path, out


def _copy(interrupted, tmp_path) -> tuple[str, Path]:
    path, out = interrupted
    shutil.copytree(out, tmp_path / "out")
    return path, tmp_path / "out"


def _truncate(path: Path) -> bytes:
    content = path.read_bytes()
    path.write_bytes(content[: len(content) // 2])
    return content[: len(content) // 2]


@pytest.mark.parametrize("corrupt", ["backup.json", "epoch_3.weights.h5"])
def test_a_corrupt_newest_backup_falls_back_and_is_never_rotated_over_the_readable_one(
        interrupted, tmp_path, monkeypatch, capsys, corrupt):
    """Issue 19, item 4: the resumed run uses backup.prev.json and the next backups keep it."""
    path, out = _copy(interrupted, tmp_path)
    backups = out / "checkpoints" / "backup_b"
    _truncate(backups / corrupt)
    capsys.readouterr()
    # Stop again at the second new backup: the first (epoch 3) replaced the unreadable one.
    monkeypatch.setenv("KERASOPT_FAULT", "SIGTERM:backup.next.json:2")
    assert main(["run", path, "--output-dir", str(out), "--resume"]) == 143
    err = capsys.readouterr().err
    assert f"{backups / corrupt} is corrupt (" in err
    assert f"resuming from the previous backup {backups / 'backup.prev.json'} (after epoch 2)" in err
    assert (_json(backups / "backup.json")["epoch"], _json(backups / "backup.prev.json")["epoch"]) == (3, 2)
    _check_disk(out, temporaries_allowed=False)
    assert main(["run", path, "--output-dir", str(out), "--resume"]) == 0, capsys.readouterr().err
    metrics = _json(out / "metrics.json")
    assert [len(s["history"]["loss"]) for s in metrics["stages"]] == [2, 6]
    assert metrics["timing"]["train_steps"] == 8 * STEPS_PER_EPOCH


def test_a_corrupt_newest_backup_resumed_to_the_end_in_one_go(interrupted, tmp_path, capsys):
    """The issue's own steps: truncate backup.json, --resume, exit 0 after the stage's 6 epochs."""
    path, out = _copy(interrupted, tmp_path)
    _truncate(out / "checkpoints" / "backup_b" / "backup.json")
    assert main(["run", path, "--output-dir", str(out), "--resume"]) == 0, capsys.readouterr().err
    assert _json(out / "metrics.json")["timing"]["train_steps"] == 8 * STEPS_PER_EPOCH


def test_no_readable_backup_exits_1_and_deletes_nothing(interrupted, tmp_path, capsys):
    path, out = _copy(interrupted, tmp_path)
    backups = out / "checkpoints" / "backup_b"
    _truncate(backups / "backup.json")
    _truncate(backups / "epoch_2.weights.h5")
    before = {p.name: p.read_bytes() for p in backups.iterdir()}
    assert main(["run", path, "--output-dir", str(out), "--resume"]) == 1
    err = capsys.readouterr().err
    assert "no readable backup" in err and str(backups / "backup.json") in err and "Traceback" not in err
    assert {p.name: p.read_bytes() for p in backups.iterdir()} == before


@pytest.mark.parametrize(("corrupt", "content", "code", "said"), [
    ("checkpoints/progress.json", None, 1, "progress.json is corrupt (not valid JSON"),
    ("checkpoints/progress.json", b'{"completed": 3}', 1,
     "progress.json is corrupt (valid JSON, but not a progress record: TypeError"),
    ("checkpoints/stage_0_a.weights.h5", None, 0, "stage_0_a.weights.h5 is corrupt"),
    ("recipe.yaml", None, 0, None),
])
def test_every_other_file_read_back_is_named_or_rewritten(interrupted, tmp_path, capsys, corrupt, content, code,
                                                          said):
    """progress.json: exit 1 naming it, kept as it was; a completed stage's weights: that stage
    and the next train again; recipe.yaml (an output: the hash in progress.json is compared)."""
    path, out = _copy(interrupted, tmp_path)
    if content is None:
        half = _truncate(out / corrupt)
    else:
        (out / corrupt).write_bytes(half := content)
    capsys.readouterr()
    assert main(["run", path, "--output-dir", str(out), "--resume"]) == code
    err = capsys.readouterr().err
    assert "Traceback" not in err
    if said:
        assert said in err
    if code:
        assert (out / corrupt).read_bytes() == half
        return
    metrics = _json(out / "metrics.json")
    assert [len(s["history"]["loss"]) for s in metrics["stages"]] == [2, 6]
    _check_disk(out, temporaries_allowed=False)


def test_a_corrupt_metrics_json_of_a_finished_run_is_rewritten_by_resume(interrupted, tmp_path, capsys):
    path, out = _copy(interrupted, tmp_path)
    assert main(["run", path, "--output-dir", str(out), "--resume"]) == 0
    good = _json(out / "metrics.json")
    _truncate(out / "metrics.json")
    assert main(["run", path, "--output-dir", str(out), "--resume"]) == 0, capsys.readouterr().err
    again = _json(out / "metrics.json")
    assert again["timing"]["train_steps"] == good["timing"]["train_steps"] == 8 * STEPS_PER_EPOCH
    assert again["evaluation"]["test"]["loss"] == pytest.approx(good["evaluation"]["test"]["loss"], rel=1e-6)


# --- A full disk -------------------------------------------------------------------------


@pytest.fixture
def small_disk(tmp_path):
    """A 2 MiB tmpfs at `tmp_path/disk` (skipped where mounting is not permitted)."""
    disk = tmp_path / "disk"
    disk.mkdir()
    mounted = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=2m", "tmpfs", str(disk)],
                             capture_output=True, text=True, check=False)
    if mounted.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs to fill up: {mounted.stderr.strip() or mounted.returncode}")
    try:
        yield disk
    finally:
        subprocess.run(["umount", "-l", str(disk)], check=False)


def test_a_full_disk_exits_1_naming_the_file_and_the_run_resumes_once_freed(small_disk, tmp_path, capsys):
    path = write_tiny_recipe(tmp_path, training={}, stages=[{"name": "a", "epochs": 2}, {"name": "b", "epochs": 6}],
                             export=EXPORT)
    out = small_disk / "out"
    filler = small_disk / "filler"
    # Leave room for the recipe, the progress file and a few backups, not for the whole run.
    free = os.statvfs(small_disk).f_bavail * os.statvfs(small_disk).f_frsize
    filler.write_bytes(b"\0" * (free - 120 * 1024))
    # In a process of its own, as a user meets it: a writer that crashed the interpreter on a
    # full disk (HDF5 can) shows as a wrong exit code here, not as a lost test worker.
    result = finish(_start(["run", path, "--output-dir", str(out)]))
    err = result.stderr
    assert result.returncode == 1, err
    (line,) = [line for line in err.splitlines() if "no space left" in line]  # ENOSPC's own words
    assert line.startswith(f"kerasopt: error: no space left on device while writing {out}/")
    assert "Traceback" not in err
    finals = _check_disk(out, temporaries_allowed=False)  # the file being written is not among them
    assert {"recipe.yaml", "checkpoints/progress.json"} <= finals
    command = shlex.split(line.split("; free space and resume with: ")[1])
    filler.unlink()
    # The printed command, run in this process (the full disk is over; a TensorFlow import less).
    assert command[0] == "kerasopt"
    assert main(command[1:]) == 0, capsys.readouterr().err
    metrics = _json(out / "metrics.json")
    assert metrics["timing"]["train_steps"] == 8 * STEPS_PER_EPOCH
    _check_disk(out, temporaries_allowed=False)


def test_only_the_atomic_writers_temporaries_are_removed(tmp_path):
    from kerasopt.atomic import remove_temporaries

    ours = [".metrics.json.3441eaf5.tmp.json", "checkpoints/.weights.jspf2gd9/stage_0_a.weights.h5",
            "checkpoints/backup_b/.backup.next.json.0a1b2c3d.tmp.json", ".saved_model.0a1b2c3d.old/x.pb"]
    theirs = [".gitignore", ".env", "notes.0a1b2c3d.tmp.txt", ".kerasopt.lock", ".weights.toolong123",
              ".kerasopt-replaced-20261207-0300-ab/.model.keras.0a1b2c3d.tmp.keras"]
    for name in ours + theirs:
        (tmp_path / name).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / name).write_text("x")
    removed = remove_temporaries(tmp_path)
    assert sorted(str(p.relative_to(tmp_path)) for p in removed) == sorted(
        str(Path(name).parent) if "/.weights." in name or ".old/" in name else name for name in ours)
    assert all((tmp_path / name).exists() for name in theirs)
    assert not any((tmp_path / name).exists() for name in ours)


def test_temporaries_are_removed_only_inside_the_entries_a_run_owns(tmp_path):
    """A name that looks like a temporary inside someone else's folder is theirs: left alone."""
    from kerasopt.atomic import remove_temporaries

    ours = [".metrics.json.3441eaf5.tmp.json", "checkpoints/.progress.json.0a1b2c3d.tmp.json"]
    theirs = [".notes.txt.0a1b2c3d.tmp.txt", "analysis/.plot.png.0a1b2c3d.tmp.png"]
    for name in ours + theirs:
        (tmp_path / name).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / name).write_text("x")
    owned = {"metrics.json", "checkpoints", ".metrics.json.3441eaf5.tmp.json"}
    removed = remove_temporaries(tmp_path, within=owned.__contains__)
    assert sorted(str(p.relative_to(tmp_path)) for p in removed) == sorted(ours)
    assert all((tmp_path / name).exists() for name in theirs)
