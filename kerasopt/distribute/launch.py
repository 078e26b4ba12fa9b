"""`kerasopt run RECIPE --workers N`: one multi-worker run as N local processes.

Each worker runs `kerasopt run RECIPE ... runtime.strategy=multi_worker --output-dir DIR`
with its own `TF_CONFIG` (:class:`~kerasopt.distribute.local_workers.LocalWorkers`).
Worker 0, the chief, writes the run directory and shows its output; the other workers
write nothing there while they run, and their logs, kept beside the run directory
meanwhile, are moved into `DIR/workers/` at the end. On a real cluster, start
`kerasopt run RECIPE runtime.strategy=multi_worker` on every machine with `TF_CONFIG`
set (or under `srun`) instead.

This module imports neither TensorFlow nor Keras: the launching process only waits.
"""

from __future__ import annotations

import os
import shlex
import shutil
import signal
import sys
import tempfile
from collections.abc import Mapping, Sequence
from pathlib import Path

from kerasopt.distribute.local_workers import LocalWorkers

WORKER_LOGS = "workers"
# Set for the workers `launch_run` starts: how many there are, so a worker can print the
# `--workers` command that resumes the run.
LOCAL_WORKERS_ENV = "KERASOPT_LOCAL_WORKERS"
STRATEGY_OVERRIDE = "runtime.strategy=multi_worker"
EXIT_USAGE = 2
INTERRUPTED = (128 + signal.SIGINT, 128 + signal.SIGTERM)
"""Exit codes of a worker that stopped on a signal and printed the resume command itself."""


class LaunchError(ValueError):
    """`--workers` cannot be used as asked (a usage error: exit 2)."""


def worker_command(recipe: str, overrides: Sequence[str], output_dir: Path,
                   flags: Sequence[str] = ()) -> list[str]:
    """The command line each worker runs.

    Example:
        >>> worker_command("r.yaml", ["training.epochs=2"], Path("/tmp/out"), ["--debug"])[3:]
        ['run', 'r.yaml', 'training.epochs=2', 'runtime.strategy=multi_worker', '--output-dir', '/tmp/out', '--debug']
    """
    return [sys.executable, "-m", "kerasopt.cli", "run", recipe, *overrides,
            STRATEGY_OVERRIDE, "--output-dir", str(output_dir), *flags]


def local_launch_words(overrides: Sequence[str], environ: Mapping[str, str] | None = None) -> list[str] | None:
    """The `kerasopt run` overrides and options that start this worker's run again with `--workers`.

    None when this process was not started by `launch_run`. The strategy override the
    launcher added is taken out again (`--workers` adds it).

    Example:
        >>> local_launch_words(["seed=1", STRATEGY_OVERRIDE], {LOCAL_WORKERS_ENV: "2"})
        ['seed=1', '--workers', '2']
        >>> local_launch_words(["seed=1"], {}) is None
        True
    """
    workers = (os.environ if environ is None else environ).get(LOCAL_WORKERS_ENV)
    if not workers:
        return None
    words = list(overrides)
    if STRATEGY_OVERRIDE in words:
        del words[len(words) - 1 - words[::-1].index(STRATEGY_OVERRIDE)]
    return [*words, "--workers", workers]


def launch_run(recipe: str, overrides: Sequence[str], *, workers: int, output_dir: str | os.PathLike[str],
               flags: Sequence[str] = (), grace_seconds: float = 30.0) -> int:
    """Run a recipe as `workers` local worker processes; return the worst exit code.

    Args:
        recipe: The recipe file or shipped name, as given to `kerasopt run`.
        overrides: The `KEY=VALUE` overrides.
        workers: How many worker processes, >= 1.
        output_dir: The run directory.
        flags: Further `kerasopt run` options for every worker (`--resume`, `--debug`...).
            Defaults to `()`.
        grace_seconds: How long workers may take to stop after Ctrl-C, SIGTERM or another
            worker's failure before they are killed. Defaults to `30.0`.

    Returns:
        The worst exit code of the workers (see :meth:`LocalWorkers.run`): 130 or 143 after
        SIGINT or SIGTERM reached this process, and 1 when a worker was ended by a signal
        this process did not send (SIGKILL, say). Whenever the chief could not print the
        command that resumes the run, this process prints it (with `--workers N`).

    Raises:
        LaunchError: When `TF_CONFIG` is already set (this process would be one worker of
            another cluster) or `workers` is not a positive integer.
    """
    if os.environ.get("TF_CONFIG"):
        raise LaunchError(
            "--workers starts its own workers on this machine, but TF_CONFIG is already set "
            "(this process is a worker of a cluster). On a cluster, run `kerasopt run RECIPE "
            "runtime.strategy=multi_worker` on every machine without --workers; locally, unset TF_CONFIG.")
    if isinstance(workers, bool) or not isinstance(workers, int) or workers < 1:
        raise LaunchError(f"--workers must be an integer >= 1. Received: --workers={workers!r}")
    run_dir = Path(output_dir).absolute()
    run_dir.parent.mkdir(parents=True, exist_ok=True)
    logs = Path(tempfile.mkdtemp(prefix=".kerasopt-workers-", dir=run_dir.parent))
    local = LocalWorkers(worker_command(recipe, overrides, run_dir, flags), workers, logs,
                         grace_seconds=grace_seconds, environ={LOCAL_WORKERS_ENV: str(workers)})
    if workers > 1:
        print(f"kerasopt: {workers} workers on 127.0.0.1; worker 0 (the chief) writes {run_dir} and "
              f"shows its output here, the others log to {logs}/worker-<i>.log", file=sys.stderr)
    status = local.run()
    _keep_logs(local, run_dir, chief_status=local.exit_codes[0])
    # Workers ended by a signal this process did not send (SIGKILL by the kernel or a user).
    killed = [i for i, code in enumerate(local.exit_codes)
              if code is not None and code > 128 and local.sent.get(i) != code - 128]
    if killed and local.signal is None:
        status = 1  # a failure while running
    # The chief prints the resume command when it stops on a signal; when it could not (or
    # the run failed otherwise), this process does. A chief this process stopped because
    # another worker failed printed a resume command too, but not why it stopped: say it.
    chief_told_why = local.exit_codes[0] in INTERRUPTED and 0 not in local.stopped
    if status not in (0, EXIT_USAGE) and not chief_told_why and (run_dir / "recipe.yaml").exists():
        what = ", ".join(f"worker {i} by {_signal_name(local.exit_codes[i])}" for i in killed) or \
            f"the workers with exit codes {local.exit_codes}"
        print(f"kerasopt: ended: {what}. The run stopped; its backups are kept. Continue with:\n"
              f"  {resume_command(recipe, overrides, workers, run_dir, flags)}", file=sys.stderr)
    return status


def resume_command(recipe: str, overrides: Sequence[str], workers: int, run_dir: Path,
                   flags: Sequence[str] = ()) -> str:
    """The command that resumes a `--workers` run in `run_dir` (with `--force` when it was given).

    Example:
        >>> resume_command("r.yaml", ["seed=1"], 2, Path("/tmp/out"), ["--overwrite"])
        'kerasopt run r.yaml seed=1 --workers 2 --output-dir /tmp/out --resume'
    """
    words = ["kerasopt", "run", recipe, *overrides, "--workers", str(workers), "--output-dir", str(run_dir),
             "--resume", *(["--force"] if "--force" in flags else [])]
    return " ".join(shlex.quote(word) for word in words)


def _signal_name(code: int) -> str:
    try:
        return signal.Signals(code - 128).name
    except ValueError:
        return f"signal {code - 128}"


def _keep_logs(local: LocalWorkers, run_dir: Path, chief_status: int | None) -> None:
    """Move the workers' logs into `<run_dir>/workers/` when the chief started a run there.

    A run refused or invalid (exit 2: the chief printed why) writes nothing: the log
    folder goes too. Otherwise, when the chief did not start a run, the logs stay where
    they are, and their place is printed.
    """
    found = [local.log_path(i) for i in range(1, local.num_workers) if local.log_path(i).exists()]
    if not found or chief_status == EXIT_USAGE:
        shutil.rmtree(local.log_folder, ignore_errors=True)
        return
    if (run_dir / "recipe.yaml").exists():
        target = run_dir / WORKER_LOGS
        target.mkdir(exist_ok=True)
        for path in found:
            os.replace(path, target / path.name)
        shutil.rmtree(local.log_folder, ignore_errors=True)
        where = target
    else:
        where = local.log_folder
    if any(code != 0 for code in local.exit_codes):
        print(f"kerasopt: the other workers' logs are in {where}", file=sys.stderr)
