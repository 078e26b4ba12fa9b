"""LocalWorkers and launch_run with stand-in worker processes (no TensorFlow)."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest

from kerasopt.distribute import launch
from kerasopt.distribute.local_workers import LocalWorkers, free_ports

# A stand-in worker: reads its index from TF_CONFIG, then acts as argv[1] says for that index:
# exit with a code, exit with a code after other workers exited, or wait to be stopped.
WORKER = textwrap.dedent("""
    import json, os, signal, sys, time
    index = json.loads(os.environ["TF_CONFIG"])["task"]["index"]
    plan, folder = json.loads(sys.argv[1])[index], sys.argv[2]
    def stop(signum, frame):
        open(os.path.join(folder, f"got-{index}-{signum}"), "w").close()
        sys.exit(128 + signum)
    signal.signal(signal.SIGTERM, signal.SIG_IGN if plan == "stubborn" else stop)
    signal.signal(signal.SIGINT, stop)
    print(f"worker {index} up", flush=True)
    if isinstance(plan, dict):  # {"exit": code, "after": [i, ...]}: exit after those workers
        while not all(os.path.exists(os.path.join(folder, f"done-{i}")) for i in plan["after"]):
            time.sleep(0.02)
        time.sleep(1.0)  # their files are written just before they exit: let them finish exiting
        plan = plan["exit"]
    if isinstance(plan, int):
        open(os.path.join(folder, f"done-{index}"), "w").close()
        sys.exit(plan)
    time.sleep(60)
""")


def _workers(tmp_path: Path, plan: list, grace: float = 30.0) -> LocalWorkers:
    return LocalWorkers([sys.executable, "-c", WORKER, json.dumps(plan), str(tmp_path)], len(plan),
                        tmp_path / "logs", grace_seconds=grace)


def test_every_worker_gets_its_own_tf_config_and_its_exit_code_is_kept(tmp_path):
    # Worker 1 fails once the others have exited on their own (a worker still running when
    # another fails is stopped: see the next test).
    workers = _workers(tmp_path, [0, {"exit": 3, "after": [0, 2]}, 0])
    assert workers.run() == 3
    assert workers.exit_codes == [0, 3, 0] and workers.stopped == set()
    assert workers.log_path(1).read_text() == "worker 1 up\n"
    config = json.loads(workers.tf_config([5000, 5001], 1))
    assert config == {"cluster": {"worker": ["127.0.0.1:5000", "127.0.0.1:5001"]},
                      "task": {"type": "worker", "index": 1}}


def test_a_failing_worker_stops_the_others_and_its_code_is_returned(tmp_path):
    started = time.monotonic()
    workers = _workers(tmp_path, ["wait", 1, "wait"])
    assert workers.run() == 1
    assert time.monotonic() - started < 20
    assert workers.stopped == {0, 2}
    # SIGTERM, handled or (if it came before the handler was set) by default: 128 + 15.
    assert workers.exit_codes == [128 + signal.SIGTERM, 1, 128 + signal.SIGTERM]


def test_a_worker_ignoring_sigterm_is_killed_after_the_grace_period(tmp_path):
    workers = _workers(tmp_path, ["stubborn", 2], grace=0.5)
    assert workers.run() == 2
    assert workers.exit_codes == [128 + signal.SIGKILL, 2]


@pytest.mark.parametrize("signum", [signal.SIGINT, signal.SIGTERM])
def test_a_signal_to_the_launcher_reaches_every_worker(tmp_path, signum):
    script = textwrap.dedent(f"""
        import json, sys
        from kerasopt.distribute.local_workers import LocalWorkers
        workers = LocalWorkers([sys.executable, "-c", {WORKER!r}, json.dumps(["wait", "wait"]),
                                {str(tmp_path)!r}], 2, {str(tmp_path / "logs")!r})
        sys.exit(workers.run())
    """)
    with subprocess.Popen([sys.executable, "-c", script], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                          env={**os.environ, "PYTHONPATH": os.getcwd()}) as launcher:
        assert launcher.stdout.readline() == b"worker 0 up\n"  # the chief's output is the launcher's
        while not (tmp_path / "logs" / "worker-1.log").read_text():
            time.sleep(0.05)
        launcher.send_signal(signum)
        assert launcher.wait(timeout=20) == 128 + signum
        message = launcher.stderr.read().decode()
    assert sorted(p.name for p in tmp_path.glob("got-*")) == [f"got-0-{int(signum)}", f"got-1-{int(signum)}"]
    assert f"{signal.Signals(signum).name}: stopping all workers" in message


def test_a_sigkilled_launchers_workers_get_sigterm_from_the_kernel(tmp_path):
    script = textwrap.dedent(f"""
        import json, sys
        from kerasopt.distribute.local_workers import LocalWorkers
        LocalWorkers([sys.executable, "-c", {WORKER!r}, json.dumps(["wait", "wait"]),
                      {str(tmp_path)!r}], 2, {str(tmp_path / "logs")!r}).run()
    """)
    with subprocess.Popen([sys.executable, "-c", script], stdout=subprocess.PIPE,
                          env={**os.environ, "PYTHONPATH": os.getcwd()}) as launcher:
        assert launcher.stdout.readline() == b"worker 0 up\n"
        while not (tmp_path / "logs" / "worker-1.log").read_text():
            time.sleep(0.05)
        launcher.kill()  # no handler runs: only PR_SET_PDEATHSIG tells the workers
        deadline = time.monotonic() + 20
        while len(list(tmp_path.glob("got-*"))) < 2 and time.monotonic() < deadline:
            time.sleep(0.05)
    assert sorted(p.name for p in tmp_path.glob("got-*")) == [f"got-0-{int(signal.SIGTERM)}",
                                                              f"got-1-{int(signal.SIGTERM)}"]


def test_a_worker_killed_by_a_signal_is_a_failure_with_the_resume_command(tmp_path, monkeypatch, capsys):
    # The chief starts the run, then waits in a collective (here: sleeps) until stopped;
    # worker 1 is SIGKILLed (by itself) once the run directory exists.
    script = textwrap.dedent("""
        import json, os, pathlib, signal, sys, time
        run = pathlib.Path(sys.argv[1])
        if json.loads(os.environ["TF_CONFIG"])["task"]["index"] == 0:
            signal.signal(signal.SIGTERM, lambda *_: sys.exit(1))  # as a chief whose peer died
            run.mkdir()
            (run / "recipe.yaml").write_text("name: x")
            time.sleep(60)
        while not (run / "recipe.yaml").exists():
            time.sleep(0.02)
        os.kill(os.getpid(), signal.SIGKILL)
    """)
    monkeypatch.setattr(launch, "worker_command",
                        lambda recipe, overrides, output_dir, flags: [sys.executable, "-c", script, str(output_dir)])
    run_dir = tmp_path / "runs" / "x"
    assert launch.launch_run("r.yaml", ["seed=1"], workers=2, output_dir=run_dir, flags=["--overwrite"]) == 1
    error = capsys.readouterr().err
    assert "kerasopt: ended: worker 1 by SIGKILL. The run stopped; its backups are kept." in error
    assert f"kerasopt run r.yaml seed=1 --workers 2 --output-dir {run_dir} --resume\n" in error


def test_free_ports_are_distinct():
    ports = free_ports(4)
    assert len(set(ports)) == 4 and all(1024 <= p < 65536 for p in ports)


@pytest.mark.parametrize(("kwargs", "fragment"), [
    ({"command": []}, "`command` must be a non-empty list of strings. Received: command=[]"),
    ({"num_workers": 0}, "`num_workers` must be an integer >= 1. Received: num_workers=0"),
    ({"num_workers": True}, "Received: num_workers=True"),
    ({"grace_seconds": 0}, "`grace_seconds` must be > 0. Received: grace_seconds=0"),
])
def test_arguments_are_checked(tmp_path, kwargs, fragment):
    arguments = {"command": ["true"], "num_workers": 2, "log_folder": tmp_path, **kwargs}
    with pytest.raises(ValueError) as info:
        LocalWorkers(**arguments)
    assert fragment in str(info.value)


def _stand_in_run(tmp_path: Path, monkeypatch, chief_code: int, writes_run: bool) -> Path:
    """launch_run with workers that stand in for `kerasopt run`; returns the run directory."""
    chief = ("import pathlib, sys; d = pathlib.Path(sys.argv[1]); d.mkdir(); "
             "(d / 'recipe.yaml').write_text('name: x')" if writes_run else "pass")
    script = (f"import json, os, sys\nif json.loads(os.environ['TF_CONFIG'])['task']['index'] == 0:\n"
              f"    {chief}\n    sys.exit({chief_code})\nprint('worker log')\n")
    monkeypatch.setattr(launch, "worker_command",
                        lambda recipe, overrides, output_dir, flags: [sys.executable, "-c", script, str(output_dir)])
    run_dir = tmp_path / "runs" / "x"
    assert launch.launch_run("r.yaml", [], workers=3, output_dir=run_dir) == chief_code
    return run_dir


def test_launch_moves_the_worker_logs_into_the_run_directory(tmp_path, monkeypatch):
    run_dir = _stand_in_run(tmp_path, monkeypatch, chief_code=0, writes_run=True)
    assert sorted(p.name for p in (run_dir / "workers").iterdir()) == ["worker-1.log", "worker-2.log"]
    assert (run_dir / "workers" / "worker-2.log").read_text() == "worker log\n"
    assert sorted(p.name for p in run_dir.parent.iterdir()) == ["x"]  # the temporary folder is gone


def test_a_run_refused_by_the_chief_leaves_no_logs_behind(tmp_path, monkeypatch, capsys):
    # Exit 2 (the chief printed why) writes nothing: not even the launcher's log folder.
    run_dir = _stand_in_run(tmp_path, monkeypatch, chief_code=2, writes_run=False)
    assert not run_dir.exists() and list(run_dir.parent.iterdir()) == []
    assert "logs are in" not in capsys.readouterr().err


def test_a_run_failing_before_the_chief_wrote_it_keeps_the_logs_beside_it_and_says_where(tmp_path, monkeypatch,
                                                                                         capsys):
    run_dir = _stand_in_run(tmp_path, monkeypatch, chief_code=1, writes_run=False)
    assert not run_dir.exists()
    (kept,) = run_dir.parent.glob(".kerasopt-workers-*")
    assert sorted(p.name for p in kept.iterdir()) == ["worker-1.log", "worker-2.log"]
    assert f"the other workers' logs are in {kept}" in capsys.readouterr().err


def test_workers_refuse_an_existing_tf_config(tmp_path, monkeypatch):
    monkeypatch.setenv("TF_CONFIG", '{"cluster": {}}')
    with pytest.raises(launch.LaunchError, match="TF_CONFIG is already set"):
        launch.launch_run("r.yaml", [], workers=2, output_dir=tmp_path)


@pytest.mark.parametrize("flags", [[], ["--overwrite"], ["--resume"]])
def test_a_refused_workers_run_starts_no_worker_and_leaves_the_folder_as_it_was(tmp_path, monkeypatch,
                                                                                 capsys, flags):
    from kerasopt.cli import main
    from tests.tiny_recipe import write_tiny_recipe

    started = []
    monkeypatch.setattr(launch, "launch_run", lambda *a, **k: started.append(a) or 0)
    theirs = tmp_path / "theirs"
    theirs.mkdir()
    (theirs / "notes.txt").write_text("someone else's work")
    recipe = write_tiny_recipe(tmp_path)
    before = sorted(p.name for p in tmp_path.iterdir())
    assert main(["run", str(recipe), "--workers", "2", "--output-dir", str(theirs), *flags]) == 2
    assert started == []  # refused before any worker started
    err = capsys.readouterr().err
    assert "kerasopt: error:" in err and str(theirs) in err and "notes.txt" in err, err
    assert sorted(p.name for p in tmp_path.iterdir()) == before  # no .kerasopt-workers-* folder
    assert [p.name for p in theirs.iterdir()] == ["notes.txt"]
    assert (theirs / "notes.txt").read_text() == "someone else's work"
