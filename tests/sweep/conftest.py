"""Fixtures of the sweep tests."""

from __future__ import annotations

import subprocess

import pytest

from kerasopt.cli import main


@pytest.fixture
def kerasopt(capsys):
    """`kerasopt ARGS` in this process, reported as `subprocess.run` would: for commands that stop
    before TensorFlow starts (a refused recipe or option) or that start processes of their own
    (`--workers`), where one more process adds nothing but its start-up."""

    def _kerasopt(*args: str) -> subprocess.CompletedProcess[str]:
        capsys.readouterr()
        try:
            code = main(list(args))
        except SystemExit as stop:  # argparse's usage errors
            code = stop.code
        out, err = capsys.readouterr()
        return subprocess.CompletedProcess(["kerasopt", *args], code, out, err)

    return _kerasopt
