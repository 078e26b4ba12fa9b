"""kerasopt against the newest Keras on PyPI (optional: set KERASOPT_NEWEST_KERAS=1).

Runs `.ci/newest_keras`, which installs kerasopt into a fresh virtual environment,
upgrades Keras and runs the conformance, registry and Keras-compatibility tests. It needs
PyPI and a few minutes, so it is skipped unless asked for; `.ci/run` does not ask.
"""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

import pytest

SCRIPT = Path(__file__).resolve().parents[1] / ".ci" / "newest_keras"


@pytest.mark.slow
@pytest.mark.skipif(os.environ.get("KERASOPT_NEWEST_KERAS") != "1",
                    reason="set KERASOPT_NEWEST_KERAS=1 to test against the newest Keras")
def test_kerasopt_passes_its_keras_tests_with_the_newest_keras():
    result = subprocess.run(["bash", str(SCRIPT)], capture_output=True, text=True, timeout=1800,
                            check=False)
    assert result.returncode == 0, result.stdout[-5000:] + result.stderr[-5000:]
    assert " passed" in result.stdout
