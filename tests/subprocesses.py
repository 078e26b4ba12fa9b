"""Python subprocesses for end-to-end tests: started from the repository root, awaited later.

Starting a run and finishing it apart lets a test run two independent processes side by
side (the suite's machines have two cores). `CliProcess` runs several `kerasopt` commands
in one child, so that TensorFlow starts once for all of them.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
from collections.abc import Iterable, Mapping
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def start_python(*args: str, env: Mapping[str, str] | None = None, drop: Iterable[str] = ()) -> subprocess.Popen[str]:
    """`python ARGS` in the repository root with `PYTHONPATH` on it; output captured as text.

    Args:
        args: The interpreter's arguments.
        env: Variables to set besides this process's own. Defaults to none.
        drop: Names of this process's variables not to pass on. Defaults to none.
    """
    dropped = set(drop)
    inherited = {key: value for key, value in os.environ.items() if key not in dropped}
    return subprocess.Popen([sys.executable, *args], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            cwd=ROOT, env={**inherited, "PYTHONPATH": str(ROOT), **(env or {})})


def finish(process: subprocess.Popen[str], timeout: float = 900) -> subprocess.CompletedProcess[str]:
    """Wait for `process` (at most `timeout` seconds) and return what it printed and its code."""
    stdout, stderr = process.communicate(timeout=timeout)
    return subprocess.CompletedProcess(process.args, process.returncode, stdout, stderr)


# The child of `CliProcess`: reads one JSON request a line ({"argv": [...], "cwd": "..."}), runs
# `kerasopt.cli.main(argv)` with file descriptors 1 and 2 pointed at files (so that what the
# command and TensorFlow's C++ code print is caught as a subprocess's would be), and answers
# with one line: `REPLY [exit code, stdout, stderr]` on a copy of its original stdout.
_SERVE = r"""
import json, os, sys, tempfile, traceback
from kerasopt.cli import main

reply = os.fdopen(os.dup(1), "w")
for line in sys.stdin:
    request = json.loads(line)
    os.chdir(request["cwd"])
    with tempfile.TemporaryFile() as out, tempfile.TemporaryFile() as err:
        sys.stdout.flush(); sys.stderr.flush()
        saved = os.dup(1), os.dup(2)
        os.dup2(out.fileno(), 1); os.dup2(err.fileno(), 2)
        try:
            try:
                code = main(request["argv"])
            except SystemExit as stop:
                code = stop.code if isinstance(stop.code, int) else (0 if stop.code is None else 1)
            except BaseException:
                traceback.print_exc()
                code = 1
        finally:
            sys.stdout.flush(); sys.stderr.flush()
            os.dup2(saved[0], 1); os.dup2(saved[1], 2)
            os.close(saved[0]); os.close(saved[1])
        out.seek(0); err.seek(0)
        text = [out.read().decode("utf-8", "replace"), err.read().decode("utf-8", "replace")]
    reply.write("REPLY " + json.dumps([code, *text]) + "\n")
    reply.flush()
"""


class CliProcess:
    """One Python child that runs `kerasopt` commands one after another, each as `kerasopt ARGS` would.

    TensorFlow starts once for all of them (a fresh `kerasopt` process costs ~5 s of CPU to
    start it). Each command gets its exit code and what it printed on stdout and stderr
    (descriptors 1 and 2, as a subprocess's). Not for what needs a fresh interpreter: a
    command that must not import TensorFlow, a signal, process-wide state a command must not
    find from an earlier one (use one `CliProcess` per such setting: `env`).

    Args:
        env: Variables to set besides this process's own (read once, when the child starts).
            Defaults to none.
        drop: Names of this process's variables not to pass on. Defaults to none.
    """

    def __init__(self, env: Mapping[str, str] | None = None, drop: Iterable[str] = ()) -> None:
        self._env, self._drop = dict(env or {}), tuple(drop)
        self._process: subprocess.Popen[str] | None = None
        self._stderr = tempfile.TemporaryFile(mode="w+")
        self._sent: list[tuple[str, ...]] = []

    @property
    def pid(self) -> int | None:
        """The child's process id (`None` before the first command)."""
        return None if self._process is None else self._process.pid

    def send(self, *args: str, cwd: Path | str = ROOT) -> None:
        """Start `kerasopt ARGS` in the child (from `cwd`); `receive` waits for it."""
        if self._process is None:
            dropped = set(self._drop)
            inherited = {key: value for key, value in os.environ.items() if key not in dropped}
            self._process = subprocess.Popen(
                [sys.executable, "-c", _SERVE], stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                stderr=self._stderr, text=True, cwd=ROOT, env={**inherited, "PYTHONPATH": str(ROOT), **self._env})
        self._process.stdin.write(json.dumps({"argv": list(args), "cwd": str(cwd)}) + "\n")
        self._process.stdin.flush()
        self._sent.append(args)

    def receive(self) -> subprocess.CompletedProcess[str]:
        """Wait for the oldest command `send` started; its exit code and output."""
        args = self._sent.pop(0)
        for line in self._process.stdout:
            if line.startswith("REPLY "):
                code, stdout, stderr = json.loads(line[len("REPLY "):])
                return subprocess.CompletedProcess(["kerasopt", *args], code, stdout, stderr)
        self._stderr.seek(0)
        raise AssertionError(f"the kerasopt process ended during `kerasopt {' '.join(args)}` "
                             f"(exit {self._process.wait()}): {self._stderr.read()[-3000:]}")

    def __call__(self, *args: str, cwd: Path | str = ROOT) -> subprocess.CompletedProcess[str]:
        """`kerasopt ARGS` run from `cwd`: its exit code and output."""
        self.send(*args, cwd=cwd)
        return self.receive()

    def close(self) -> None:
        """End the child (after its running command) and wait for it."""
        if self._process is not None:
            self._process.stdin.close()
            self._process.wait(timeout=900)
            self._process.stdout.close()
        self._stderr.close()
