"""The environment of a benchmark's subprocesses: this checkout first on the path, a fixed thread count."""

from __future__ import annotations

import os
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def environment(threads: int) -> dict[str, str]:
    """The subprocesses' environment: this checkout first on the path, `threads` everywhere."""
    path = os.pathsep.join(filter(None, [str(ROOT), os.environ.get("PYTHONPATH")]))
    count = str(threads)
    return {**os.environ, "PYTHONPATH": path, "TF_CPP_MIN_LOG_LEVEL": "2", "OMP_NUM_THREADS": count,
            "MKL_NUM_THREADS": count, "TF_NUM_INTRAOP_THREADS": count, "TF_NUM_INTEROP_THREADS": count}
