"""Suite-wide set-up: kerasopt's (and the tests') bytecode is compiled once, before any test.

Where `PYTHONDONTWRITEBYTECODE` is set (or the tree is fresh), every interpreter the suite
starts (the `kerasopt run` subprocesses, the forked children of the module-import check)
would otherwise compile kerasopt's ~230 source files again on import: about 0.6 s of CPU
each time, several minutes over the suite. Compiled files only cache what Python would
compile anyway; `__pycache__/` is ignored by git.
"""

from __future__ import annotations

import compileall
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


def pytest_configure(config: pytest.Config) -> None:
    if hasattr(config, "workerinput"):
        return  # an xdist worker: the controller compiled before starting it
    for folder in ("kerasopt", "tests"):
        compileall.compile_dir(ROOT / folder, quiet=2, workers=1)
