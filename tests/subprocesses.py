"""Python subprocesses for end-to-end tests: started from the repository root, awaited later.

Starting a run and finishing it apart lets a test run two independent processes side by
side (the suite's machines have two cores).
"""

from __future__ import annotations

import os
import subprocess
import sys
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
