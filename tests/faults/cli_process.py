"""`kerasopt` as a user runs it, in a subprocess that also reports whether TensorFlow was imported."""

from __future__ import annotations

import dataclasses
import os
import subprocess
import sys
import time

from tests.subprocesses import ROOT

_REPORTING = (
    "import sys\nfrom kerasopt.cli import main\n"
    "try:\n    status = main(sys.argv[1:])\nexcept SystemExit as e:\n    status = e.code\n"
    "heavy = sorted(m for m in ('tensorflow', 'keras') if m in sys.modules)\n"
    "print('HEAVY', heavy, file=sys.stderr)\nsys.exit(status)\n")


@dataclasses.dataclass
class Outcome:
    """What one `kerasopt` command did."""

    code: int
    stderr: str
    seconds: float
    imported_tensorflow: bool


def kerasopt(*args: str) -> Outcome:
    """Run `kerasopt ARGS` in a fresh interpreter from the repository root; time it."""
    started = time.perf_counter()
    result = subprocess.run([sys.executable, "-c", _REPORTING, *args], capture_output=True, text=True,
                            cwd=ROOT, env={**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3", "PYTHONPATH": str(ROOT)}, timeout=600)
    seconds = time.perf_counter() - started
    lines = result.stderr.splitlines()
    heavy = [line for line in lines if line.startswith("HEAVY ")]
    return Outcome(result.returncode, "\n".join(line for line in lines if not line.startswith("HEAVY ")),
                   seconds, bool(heavy) and heavy[-1] != "HEAVY []")

