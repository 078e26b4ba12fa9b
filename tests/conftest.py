"""Suite-wide set-up: bytecode compiled once before any test; files holding slow tests run first;
the `kerasopt` fixture (the command line in this process).

Where `PYTHONDONTWRITEBYTECODE` is set (or the tree is fresh), every interpreter the suite
starts (the `kerasopt run` subprocesses, the forked children of the module-import check)
would otherwise compile kerasopt's ~230 source files again on import: about 0.6 s of CPU
each time, several minutes over the suite. Compiled files only cache what Python would
compile anyway; `__pycache__/` is ignored by git.
"""

from __future__ import annotations

import compileall
import subprocess
from collections import Counter
from collections.abc import Callable
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


def pytest_configure(config: pytest.Config) -> None:
    if hasattr(config, "workerinput"):
        return  # an xdist worker: the controller compiled before starting it
    for folder in ("kerasopt", "tests"):
        compileall.compile_dir(ROOT / folder, quiet=2, workers=1)


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Files holding a `slow` test first, then the others; more tests first within each group.

    pytest-xdist (`--dist loadfile --no-loadscope-reorder`, pyproject's addopts) hands whole
    files to its two workers in this order. Ordered by test count alone (xdist's own
    reordering), the slowest files, the end-to-end ones with one to three tests, came among
    the last: one worker ran a minute-long file while the other had nothing left. Started
    first, they are balanced by the many short files that follow. Tests keep their order
    within a file.
    """
    slow = {item.path for item in items if item.get_closest_marker("slow")}
    counts = Counter(item.path for item in items)
    items.sort(key=lambda item: (item.path not in slow, -counts[item.path]))


@pytest.fixture
def kerasopt(capsys: pytest.CaptureFixture[str]) -> Callable[..., subprocess.CompletedProcess[str]]:
    """`kerasopt ARGS` in this process, reported as `subprocess.run` would (exit code, stdout, stderr).

    For commands that read and print only, or stop before TensorFlow starts (a refused recipe
    or option), or start processes of their own (`--workers`): there one more interpreter adds
    nothing but its start-up. Tests of `python -m kerasopt.cli` itself (no TensorFlow import,
    a closed pipe, signals) keep their subprocess.
    """
    from kerasopt import cli

    def run(*args: str) -> subprocess.CompletedProcess[str]:
        capsys.readouterr()
        try:
            code = cli.main(list(args))
        except SystemExit as stop:  # argparse: 0 after --help, 2 for a usage error
            code = stop.code
        out, err = capsys.readouterr()
        return subprocess.CompletedProcess(["kerasopt", *args], code, out, err)

    return run
