"""The run directory is never destroyed: refusal, the manifest, --overwrite, the lock, a full disk, strict JSON."""

from __future__ import annotations

import errno
import json
import os
import shlex
import shutil
import socket
import subprocess
import sys
from pathlib import Path

import keras
import pytest

from kerasopt.cli import main
from kerasopt.recipe.check.loader import load_recipe
from kerasopt.recipe.errors import RunRefused
from kerasopt.recipe.run.runner import run
from kerasopt.recipe.store.run_dir import RunDirectory, finite_only
from kerasopt.recipe.store.run_lock import LOCK_NAME, RunLock
from kerasopt.recipe.store.run_manifest import MANIFEST_NAME
from tests.subprocesses import start_python
from tests.tiny_recipe import write_tiny_recipe


def cli(*args: str) -> int:
    return main(["run", *args])


@pytest.fixture(scope="module")
def finished(tmp_path_factory) -> tuple[str, Path]:
    """A tiny recipe (one epoch) and the run directory `kerasopt run` made of it: run once, copied by `_copy`."""
    folder = tmp_path_factory.mktemp("finished")
    recipe, out = write_tiny_recipe(folder, training={"epochs": 1}), folder / "out"
    assert cli(recipe, "--output-dir", str(out)) == 0
    return recipe, out


def _copy(finished: tuple[str, Path], tmp_path: Path, name: str = "out") -> tuple[str, Path]:
    """The recipe of `finished` and a copy of its run directory at `tmp_path / name`."""
    recipe, out = finished
    shutil.copytree(out, tmp_path / name)
    return recipe, tmp_path / name


def test_a_directory_holding_a_run_is_refused_and_left_as_it_was(finished, tmp_path, capsys):
    recipe, out = _copy(finished, tmp_path)
    before = {p: p.read_bytes() for p in out.rglob("*") if p.is_file()}
    capsys.readouterr()
    assert cli(recipe, "--output-dir", str(out)) == 2
    message = capsys.readouterr().err
    assert "already holds a finished run" in message
    assert "--resume to continue" in message and "--overwrite to replace" in message
    assert "another --output-dir" in message and "Traceback" not in message
    assert {p: p.read_bytes() for p in out.rglob("*") if p.is_file()} == before


def test_overwrite_moves_the_old_run_aside_and_deletes_it_only_at_the_end(finished, tmp_path):
    _, out = _copy(finished, tmp_path)
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
    assert sorted(p.name for p in out.iterdir()) == [MANIFEST_NAME, "checkpoints", "metrics.json", "recipe.yaml"]
    assert json.loads((out / MANIFEST_NAME).read_text())["entries"] == ["checkpoints", "metrics.json", "recipe.yaml"]


def test_a_failed_overwrite_keeps_the_old_run(finished, tmp_path, monkeypatch, capsys):
    recipe, out = _copy(finished, tmp_path)
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
    _, out2 = _copy(finished, tmp_path, "out2")
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
    for flags in ([], ["--overwrite"], ["--resume"]):
        assert cli(write_tiny_recipe(tmp_path), "--output-dir", str(out), *flags) == 2
        message = capsys.readouterr().err
        assert f"{out} is not empty and is not a kerasopt run directory (it has no {MANIFEST_NAME}); " \
               "it holds notes.txt." in message
        assert sorted(p.name for p in out.iterdir()) == ["notes.txt"]


def test_overwrite_into_the_folder_of_the_recipe_itself_leaves_the_recipe(tmp_path, capsys):
    """The user's own `recipe.yaml` once made a folder look like a run (and --overwrite deleted it)."""
    recipe = write_tiny_recipe(tmp_path)
    text = Path(recipe).read_text()
    assert cli(recipe, "--output-dir", str(tmp_path), "--overwrite") == 2
    assert "is not a kerasopt run directory" in capsys.readouterr().err
    assert Path(recipe).read_text() == text and sorted(p.name for p in tmp_path.iterdir()) == ["recipe.yaml"]


def test_an_empty_folder_is_fine_to_run_into(tmp_path):
    out = tmp_path / "empty"
    out.mkdir()
    assert cli(write_tiny_recipe(tmp_path, training={"epochs": 1}), "--output-dir", str(out)) == 0
    assert json.loads((out / "metrics.json").read_text())["stages"][0]["epochs"] == 1


def test_overwrite_replaces_only_what_kerasopt_wrote_and_says_what_it_kept(finished, tmp_path, capsys):
    """Issue 19, item 1: files another program put into a kerasopt run directory survive --overwrite."""
    recipe, out = _copy(finished, tmp_path)
    (out / "notes.txt").write_text("my notes")
    (out / "analysis").mkdir()
    (out / "analysis" / "plot.py").write_bytes(b"import matplotlib\n")
    old_weights = (out / "checkpoints" / "stage_0_train.weights.h5").read_bytes()
    capsys.readouterr()
    assert cli(recipe, "training.epochs=2", "--output-dir", str(out), "--overwrite") == 0
    assert (f"--overwrite replaces only what kerasopt wrote in {out}; it keeps analysis/, notes.txt, "
            "which kerasopt did not write.") in capsys.readouterr().err
    assert (out / "notes.txt").read_text() == "my notes"
    assert (out / "analysis" / "plot.py").read_bytes() == b"import matplotlib\n"
    assert json.loads((out / "metrics.json").read_text())["stages"][0]["epochs"] == 2
    assert (out / "checkpoints" / "stage_0_train.weights.h5").read_bytes() != old_weights
    assert sorted(p.name for p in out.iterdir()) == [
        MANIFEST_NAME, "analysis", "checkpoints", "metrics.json", "notes.txt", "recipe.yaml"]
    assert json.loads((out / MANIFEST_NAME).read_text())["entries"] == ["checkpoints", "metrics.json", "recipe.yaml"]


def test_a_file_of_someone_elses_inside_a_run_folder_stops_overwrite_and_survives_resume(finished, tmp_path, capsys):
    """`checkpoints/` is kerasopt's, but a note someone put in it is not: never deleted."""
    recipe, out = _copy(finished, tmp_path)
    note = out / "checkpoints" / "my_notes.txt"
    note.write_text("mine")
    before = {p: p.read_bytes() for p in out.rglob("*") if p.is_file()}
    capsys.readouterr()
    assert cli(recipe, "--output-dir", str(out), "--overwrite") == 2
    message = capsys.readouterr().err
    assert "checkpoints/my_notes.txt inside its folders was not written by kerasopt" in message
    assert {p: p.read_bytes() for p in out.rglob("*") if p.is_file()} == before


def test_finishing_a_stage_deletes_only_kerasopts_files_of_its_backup_folder(tmp_path):
    run_dir = RunDirectory(tmp_path)
    backup = tmp_path / "checkpoints" / "backup_train"
    backup.mkdir(parents=True)
    for name in ("backup.json", "backup.prev.json", "epoch_2.weights.h5", ".backup.next.json.0a1b2c3d.tmp.json"):
        (backup / name).write_text("x")
    (backup / "mine.txt").write_text("mine")
    run_dir.remove_own("checkpoints/backup_train")
    assert sorted(p.name for p in backup.iterdir()) == ["mine.txt"]
    (backup / "mine.txt").unlink()
    run_dir.remove_own("checkpoints/backup_train")
    assert not backup.exists()


def test_a_second_overwrite_keeps_the_run_a_failed_one_kept(finished, tmp_path, capsys):
    recipe, out = _copy(finished, tmp_path)
    good = (out / "checkpoints" / "stage_0_train.weights.h5").read_bytes()
    # Diverges in its first epoch, after writing its recipe: the replaced run is kept aside.
    assert cli(recipe, "training.optimizer.type=sgd", "training.optimizer.learning_rate=1.0e30",
               "--output-dir", str(out), "--overwrite") == 1
    (kept,) = [p for p in out.iterdir() if p.name.startswith(".kerasopt-replaced-")]
    assert (kept / "checkpoints" / "stage_0_train.weights.h5").read_bytes() == good
    capsys.readouterr()
    assert cli(recipe, "--output-dir", str(out), "--overwrite") == 0
    assert f"{kept} (a run replaced earlier and kept after its replacement failed) stays" in capsys.readouterr().err
    assert (kept / "checkpoints" / "stage_0_train.weights.h5").read_bytes() == good


def test_another_programs_file_under_a_name_the_run_writes_is_refused(finished, tmp_path, capsys):
    recipe, out = _copy(finished, tmp_path)
    (out / "model.tflite").write_bytes(b"someone else's model")
    before = {p: p.read_bytes() for p in out.rglob("*") if p.is_file()}
    capsys.readouterr()
    for flags in (["--overwrite"], ["--resume"]):
        assert cli(recipe, "--output-dir", str(out), *flags) == 2
        message = capsys.readouterr().err
        assert f"{out} is a kerasopt run directory, but model.tflite in it was not written by kerasopt" in message
        assert {p: p.read_bytes() for p in out.rglob("*") if p.is_file()} == before


def test_a_run_of_an_earlier_kerasopt_resumes_but_is_not_overwritten(finished, tmp_path, capsys):
    """A run directory without a manifest (kerasopt <= 0.3) is continued, never replaced blind."""
    recipe, out = _copy(finished, tmp_path)
    (out / MANIFEST_NAME).unlink()
    (out / "notes.txt").write_text("my notes")
    before = {p: p.read_bytes() for p in out.rglob("*") if p.is_file()}
    capsys.readouterr()
    assert cli(recipe, "--output-dir", str(out), "--overwrite") == 2
    message = capsys.readouterr().err
    assert f"{out} holds a run of an earlier kerasopt, which wrote no {MANIFEST_NAME}" in message
    assert "continue it with --resume" in message
    assert cli(recipe, "--output-dir", str(out)) == 2
    assert "already holds a run (of an earlier kerasopt). Use --resume" in capsys.readouterr().err
    assert {p: p.read_bytes() for p in out.rglob("*") if p.is_file()} == before
    assert cli(recipe, "--output-dir", str(out), "--resume") == 0
    assert json.loads((out / MANIFEST_NAME).read_text())["entries"] == ["checkpoints", "metrics.json", "recipe.yaml"]
    assert cli(recipe, "--output-dir", str(out), "--overwrite") == 0
    assert (out / "notes.txt").read_text() == "my notes"


def test_a_corrupt_manifest_is_refused_and_nothing_is_moved(finished, tmp_path, capsys):
    recipe, out = _copy(finished, tmp_path)
    (out / MANIFEST_NAME).write_text('{"entries": "everything"}')
    before = {p: p.read_bytes() for p in out.rglob("*") if p.is_file()}
    capsys.readouterr()
    assert cli(recipe, "--output-dir", str(out), "--overwrite") == 2
    assert f"{out / MANIFEST_NAME} is not a kerasopt run manifest" in capsys.readouterr().err
    assert {p: p.read_bytes() for p in out.rglob("*") if p.is_file()} == before


@pytest.mark.parametrize("below", ["", "sub"])
def test_an_output_dir_naming_a_file_is_a_usage_error(tmp_path, capsys, below):
    """Issue 19, bad inputs: `--output-dir` naming an existing file exits 2 with one message."""
    existing = tmp_path / "results.csv"
    existing.write_text("a,b\n1,2\n")
    target = existing / below if below else existing
    assert cli(write_tiny_recipe(tmp_path), "--output-dir", str(target)) == 2
    lines = capsys.readouterr().err.strip().splitlines()
    expected = (f"kerasopt: error: --output-dir {target} is an existing file, not a folder" if not below
                else f"kerasopt: error: --output-dir {target} cannot be created (Not a directory).")
    assert len(lines) == 1 and lines[0].startswith(expected), lines
    assert existing.read_text() == "a,b\n1,2\n"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["recipe.yaml", "results.csv"]


@pytest.mark.parametrize("empty", ["", " "])
def test_an_empty_output_dir_is_a_usage_error_not_the_default_folder(tmp_path, capsys, monkeypatch, empty):
    monkeypatch.chdir(tmp_path)
    with pytest.raises(SystemExit) as stopped:
        cli(write_tiny_recipe(tmp_path), "--output-dir", empty)
    assert stopped.value.code == 2
    assert f"argument --output-dir: must name a folder. Received: {empty!r}" in capsys.readouterr().err
    assert not (tmp_path / "saved_models").exists()


HOLDER = """
import sys, time
from kerasopt.recipe.store.run_lock import RunLock
lock = RunLock(sys.argv[1])
lock.acquire()
print("held", flush=True)
time.sleep(600)
"""


def test_a_locked_directory_is_refused_naming_the_holder_even_without_its_record(tmp_path, capsys):
    out = tmp_path / "out"
    out.mkdir()
    holder = start_python("-c", HOLDER, str(out))
    try:
        assert holder.stdout.readline() == "held\n"
        recipe = write_tiny_recipe(tmp_path, training={"epochs": 1})
        assert cli(recipe, "--output-dir", str(out)) == 2
        message = capsys.readouterr().err
        assert f"the run directory {out} is in use by another run (process {holder.pid} on " in message
        (out / LOCK_NAME).unlink()  # the lock is the kernel's, not the file's
        assert cli(recipe, "--output-dir", str(out), "--resume") == 2
        assert "is in use by another run (a process whose record" in capsys.readouterr().err
        assert list(out.iterdir()) == [], "nothing written"
    finally:
        holder.kill()
        holder.communicate()
    assert cli(recipe, "--output-dir", str(out)) == 0  # the kernel freed the lock of the killed holder


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
        (tmp_path / LOCK_NAME).unlink()
        with pytest.raises(RunRefused, match="in use by another run"):
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


def test_resume_refuses_a_changed_recipe_with_a_diff_unless_forced(finished, tmp_path, capsys):
    recipe, out = _copy(finished, tmp_path)
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
    # A diverged run writes no metrics.json (tests/recipe/test_divergence.py), but a finished one
    # may still hold a non-finite number (a metric undefined on its data): written as null.
    run_dir = RunDirectory(tmp_path / "out")
    run_dir.prepare(resume=False)
    run_dir.write_json("metrics.json", {"evaluation": {"test": {"loss": 0.5, "r2": float("nan")}},
                                        "stages": [{"history": {"loss": [float("inf"), 1.0]}}]})
    text = (tmp_path / "out" / "metrics.json").read_text()
    metrics = json.loads(text, parse_constant=lambda name: pytest.fail(f"{name} in metrics.json"))
    assert metrics["evaluation"]["test"] == {"loss": 0.5, "r2": None}
    assert metrics["non_finite"] == ["evaluation.test.r2", "stages[0].history.loss[0]"]


def test_finite_only_replaces_and_names_every_non_finite_float():
    clean, where = finite_only({"a": [1.0, float("-inf"), {"b": float("nan")}], "c": 2, "d": "nan"})
    assert clean == {"a": [1.0, None, {"b": None}], "c": 2, "d": "nan"}
    assert where == ["a[1]", "a[2].b"]
