"""`LocalWorkers`: N processes of one multi-worker run on this machine, started and stopped together."""

from __future__ import annotations

import contextlib
import json
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from pathlib import Path
from typing import Any

from kerasopt._signals import stop_signals_call


class LocalWorkers:
    """Start `num_workers` copies of a command, each with its own `TF_CONFIG`, and wait for all.

    Worker `i` gets `TF_CONFIG = {"cluster": {"worker": [127.0.0.1:<port 0>, ...]},
    "task": {"type": "worker", "index": i}}` with free ports on 127.0.0.1, so the
    processes form one `MultiWorkerMirroredStrategy` cluster; worker 0 is the chief. The
    chief's output goes to this process's stdout and stderr, each other worker's to
    `<log_folder>/worker-<i>.log`.

    The workers run in their own sessions, so Ctrl-C at a terminal reaches this process
    only, and :meth:`run` passes SIGINT or SIGTERM on to every worker once; workers still
    running `grace_seconds` later are killed. When a worker fails (non-zero exit) while
    others still run, the others would wait for it forever inside a collective operation,
    so they are stopped the same way. On Linux, a worker gets SIGTERM from the kernel when
    this process ends, even by SIGKILL (:func:`dies_with_parent`): workers never train
    unattended. `sent` records the last signal sent to each worker.

    Args:
        command: The command every worker runs (e.g. `python -m kerasopt.cli run ...`).
        num_workers: How many workers, >= 1.
        log_folder: Where the non-chief workers' logs go (created when missing).
        grace_seconds: How long stopped workers may take to finish before they are killed,
            > 0. Defaults to `30.0`.
        environ: Further environment variables for every worker. Defaults to `None`.

    Example:
        >>> import tempfile
        >>> script = "import json, os; task = json.loads(os.environ['TF_CONFIG'])['task']; print(task)"
        >>> workers = LocalWorkers([sys.executable, "-c", script], 2, tempfile.mkdtemp())
        >>> workers.run()  # the chief prints to this process's stdout (descriptor 1)
        0
        >>> workers.log_path(1).read_text()
        "{'type': 'worker', 'index': 1}\\n"
    """

    def __init__(self, command: Sequence[str], num_workers: int, log_folder: str | os.PathLike[str],
                 *, grace_seconds: float = 30.0, environ: Mapping[str, str] | None = None) -> None:
        if not command or not all(isinstance(word, str) for word in command):
            raise ValueError(f"`command` must be a non-empty list of strings. Received: command={command!r}")
        if isinstance(num_workers, bool) or not isinstance(num_workers, int) or num_workers < 1:
            raise ValueError(f"`num_workers` must be an integer >= 1. Received: num_workers={num_workers!r}")
        if not grace_seconds > 0:
            raise ValueError(f"`grace_seconds` must be > 0. Received: grace_seconds={grace_seconds!r}")
        self.command = list(command)
        self.num_workers = num_workers
        self.log_folder = Path(log_folder)
        self.grace_seconds = float(grace_seconds)
        self.environ = dict(environ or {})
        self.exit_codes: list[int | None] = [None] * num_workers
        self.stopped: set[int] = set()
        self.sent: dict[int, int] = {}
        self._signal: int | None = None

    def log_path(self, index: int) -> Path:
        """The log file of non-chief worker `index`."""
        return self.log_folder / f"worker-{index}.log"

    def tf_config(self, ports: Sequence[int], index: int) -> str:
        """The `TF_CONFIG` of worker `index` in a cluster on `ports`."""
        cluster = {"worker": [f"127.0.0.1:{port}" for port in ports]}
        return json.dumps({"cluster": cluster, "task": {"type": "worker", "index": index}})

    def run(self) -> int:
        """Start the workers, wait for all of them, and return the worst exit code.

        After SIGINT or SIGTERM reached this process (and was passed on), the code is
        `128 + signal`, however the workers ended. Otherwise the worst exit code is the
        largest among the workers that ended by themselves (a worker killed by signal `n`
        counts as `128 + n`); workers stopped because another one failed are left out, so
        the code is the failure's own.
        """
        self.log_folder.mkdir(parents=True, exist_ok=True)
        ports = free_ports(self.num_workers)
        processes: list[subprocess.Popen[bytes]] = []
        with _forwarded_signals(self), contextlib.ExitStack() as files:
            for index in range(self.num_workers):
                env = {**os.environ, **self.environ, "TF_CONFIG": self.tf_config(ports, index)}
                output: Any = None
                if index > 0:
                    output = files.enter_context(open(self.log_path(index), "wb"))
                processes.append(subprocess.Popen(
                    self.command, env=env, stdout=output, stderr=subprocess.STDOUT if output else None,
                    start_new_session=True, preexec_fn=dies_with_parent()))
            self._wait(processes)
        if self._signal is not None:
            return 128 + self._signal
        own = [code for index, code in enumerate(self.exit_codes)
               if index not in self.stopped and code is not None]
        return max(own) if own else 1

    @property
    def signal(self) -> int | None:
        """The SIGINT or SIGTERM this process received and passed on, or None."""
        return self._signal

    def _wait(self, processes: list[subprocess.Popen[bytes]]) -> None:
        forwarded = False
        deadline: float | None = None
        while any(code is None for code in self.exit_codes):
            for index, process in enumerate(processes):
                if self.exit_codes[index] is None and process.poll() is not None:
                    code = process.returncode
                    self.exit_codes[index] = 128 - code if code < 0 else code
            running = [i for i, code in enumerate(self.exit_codes) if code is None]
            if not running:
                break
            if self._signal is not None and not forwarded:
                forwarded = True
                for index in running:
                    self._send(processes, index, self._signal)
                deadline = time.monotonic() + self.grace_seconds
            failed = any(code not in (None, 0) for code in self.exit_codes)
            if failed and deadline is None:
                self.stopped.update(running)
                for index in running:
                    self._send(processes, index, signal.SIGTERM)
                deadline = time.monotonic() + self.grace_seconds
            if deadline is not None and time.monotonic() > deadline:
                for index in running:
                    self._send(processes, index, signal.SIGKILL)
                deadline = float("inf")
            time.sleep(0.05)


    def _send(self, processes: list[subprocess.Popen[bytes]], index: int, signum: int) -> None:
        self.sent[index] = int(signum)
        with contextlib.suppress(ProcessLookupError):
            processes[index].send_signal(signum)


def free_ports(count: int) -> list[int]:
    """`count` distinct TCP ports on 127.0.0.1 that were free a moment ago."""
    with contextlib.ExitStack() as stack:
        sockets = [stack.enter_context(socket.socket()) for _ in range(count)]
        for sock in sockets:
            sock.bind(("127.0.0.1", 0))
        return [sock.getsockname()[1] for sock in sockets]


PR_SET_PDEATHSIG = 1
"""`prctl` option (linux/prctl.h): the signal a process gets when its parent ends."""


def dies_with_parent() -> Callable[[], None] | None:
    """A `preexec_fn` that makes the child get SIGTERM when this process ends, however it ends.

    Linux's `prctl(PR_SET_PDEATHSIG)`: a launcher that is SIGKILLed cannot pass a signal
    on, but the kernel sends one to its workers, which then stop as after a SIGTERM. A
    child whose parent ended before the setting took effect signals itself. None (no
    `preexec_fn`) on other systems.
    """
    if not sys.platform.startswith("linux"):
        return None
    import ctypes

    libc = ctypes.CDLL(None, use_errno=True)  # loaded here: the child only calls it
    parent = os.getpid()

    def set_parent_death_signal() -> None:
        libc.prctl(PR_SET_PDEATHSIG, int(signal.SIGTERM), 0, 0, 0)
        if os.getppid() != parent:
            os.kill(os.getpid(), signal.SIGTERM)

    return set_parent_death_signal


@contextlib.contextmanager
def _forwarded_signals(workers: LocalWorkers) -> Iterator[None]:
    """SIGINT and SIGTERM are recorded for `workers` to pass on, instead of stopping this process."""

    def record(signum: int, frame: object) -> None:
        if workers._signal is None:
            print(f"kerasopt: {signal.Signals(signum).name}: stopping all workers", file=sys.stderr)
            workers._signal = signum

    with stop_signals_call(record):
        yield
