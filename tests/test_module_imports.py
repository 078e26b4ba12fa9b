"""Every kerasopt module imports first, alone, in a fresh interpreter (issue 19, item 9).

Importing Keras registers every kerasopt component (`kerasopt._keras_registration`);
when the first `import keras` came from inside a kerasopt module, that registration used
to import every component while the module was half initialized, and
`from kerasopt.compression import clustering, pruning, quantization` (the snippet of
docs/compression.md) failed with a circular-import error.

What is imported, and in which order, is the point, so each import runs in its own
fresh interpreter. A fresh interpreter importing Keras costs a whole TensorFlow import
(about 8 s of CPU here), so only that snippet and the compression packages get one
before Keras, and every one of the ~220 modules is imported first and alone in a child forked
from an interpreter that has imported Keras and nothing of kerasopt (well under a second each).
"""

from __future__ import annotations

import importlib
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
    """The snippet of docs/compression.md, before `import keras`; every component still registers."""
    code = f"from kerasopt.compression import clustering, pruning, quantization; {REGISTERED}"
    assert _failures([code]) == []


@pytest.mark.slow
def test_compression_packages_alone_after_import_kerasopt():
    codes = [f"import kerasopt; import kerasopt.compression.{name}; {REGISTERED}"
             for name in ("pruning", "quantization", "clustering")]
    assert _failures(codes) == []


# Each child of this interpreter imports one module and exits; Keras (and so TensorFlow) is
# imported once, in the parent, before any kerasopt module: `kerasopt` then registers its
# components as soon as it is imported, the other order the quick tests above check.
_FORKING = """
import os, sys, traceback
import keras
failed = []
for name in sys.argv[1:]:
    pid = os.fork()
    if pid == 0:
        try:
            __import__(name)
            assert keras.saving.get_registered_object('kerasopt>Lookahead') is not None, 'not registered'
        except BaseException:
            traceback.print_exc()
            os._exit(1)
        os._exit(0)
    _, status = os.waitpid(pid, 0)
    if status != 0:
        failed.append(name)
print('FAILED', failed, file=sys.stderr)
sys.exit(1 if failed else 0)
"""


def test_every_module_imports_first_alone_after_keras():
    """All ~220 modules, each first and alone in a child forked from an interpreter holding only Keras."""
    modules = kerasopt_modules()
    halves = [modules[::2], modules[1::2]]
    runs = [start_python("-c", _FORKING, *half, env={"TF_CPP_MIN_LOG_LEVEL": "3"}) for half in halves]
    for run in runs:
        done = finish(run, timeout=900)
        assert done.returncode == 0, done.stderr[-3000:]


@pytest.mark.parametrize("package", ["kerasopt.sweep", "kerasopt.compression"])
def test_every_lazily_loaded_name_of_a_package_resolves(package):
    # kerasopt.sweep.SweepSection pointed at a module that was moved (ModuleNotFoundError).
    module = importlib.import_module(package)
    for name in module.__all__:
        assert getattr(module, name).__name__ == name, (package, name)
