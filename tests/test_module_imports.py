"""Every kerasopt module imports first, alone, in a fresh interpreter (issue 19, item 9).

Importing Keras registers every kerasopt component (`kerasopt._keras_registration`);
when the first `import keras` came from inside a kerasopt module, that registration used
to import every component while the module was half initialized, and
`from kerasopt.compression import clustering, pruning, quantization` (the README's
snippet) failed with a circular-import error.

What is imported, and in which order, is the point, so each import runs in its own
fresh interpreter. A module importing Keras costs a whole TensorFlow import (about 8 s
of CPU here), so the check over all ~220 modules is marked slow and runs two
interpreters at a time: about 12 minutes on two idle cores (222 modules, most of which
import Keras), and much longer on shared ones (64 modules took 40 minutes beside six other
test runs). The README's snippet runs in the quick suite.
"""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

from tests.subprocesses import finish, start_python

ROOT = Path(__file__).resolve().parents[1]

REGISTERED = (
    "import keras; "
    "assert keras.saving.get_registered_object('kerasopt>Lookahead') is not None, 'not registered'"
)


def kerasopt_modules() -> list[str]:
    """Every module of the package, found on disk (walking packages would import them)."""
    names = []
    for path in sorted((ROOT / "kerasopt").rglob("*.py")):
        parts = path.relative_to(ROOT).with_suffix("").parts
        names.append(".".join(parts[:-1] if parts[-1] == "__init__" else parts))
    return names


def _import_alone(code: str) -> tuple[str, int, str]:
    done = finish(start_python("-c", code, env={"TF_CPP_MIN_LOG_LEVEL": "3"}), timeout=600)
    return code, done.returncode, done.stderr[-1500:]


def _failures(codes: list[str]) -> list[tuple[str, int, str]]:
    with ThreadPoolExecutor(max_workers=2) as pool:
        return [result for result in pool.map(_import_alone, codes) if result[1] != 0]


def test_module_list_is_complete():
    modules = kerasopt_modules()
    assert len(modules) > 200
    assert "kerasopt.compression.clustering.cluster_mean_constraint" in modules
    assert "kerasopt" in modules


def test_readme_compression_import_before_keras():
    """The README's snippet, before `import keras`; every component still registers."""
    code = f"from kerasopt.compression import clustering, pruning, quantization; {REGISTERED}"
    assert _failures([code]) == []


@pytest.mark.slow
def test_compression_packages_alone_after_import_kerasopt():
    codes = [f"import kerasopt; import kerasopt.compression.{name}; {REGISTERED}"
             for name in ("pruning", "quantization", "clustering")]
    assert _failures(codes) == []


@pytest.mark.slow
def test_every_module_imports_first_alone():
    codes = [f"import {name}" for name in kerasopt_modules()]
    assert _failures(codes) == []
