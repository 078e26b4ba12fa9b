"""Every kerasopt module imports first, alone, in a fresh interpreter (issue 19, item 9).

Importing Keras registers every kerasopt component (`kerasopt._keras_registration`);
when the first `import keras` came from inside a kerasopt module, that registration used
to import every component while the module was half initialized, and
`from kerasopt.compression import clustering, pruning, quantization` (the snippet of
docs/compression.md) failed with a circular-import error.

What is imported, and in which order, is the point, so each import runs in its own
fresh interpreter. A fresh interpreter importing Keras costs a whole TensorFlow import
(about 8 s of CPU here), so only that snippet and the compression packages get one
before Keras (three in all: the snippet goes on in the one importing clustering), and every
one of the ~280 modules is imported first and alone in a child forked from an interpreter
that has imported Keras and, of kerasopt, only the module's parent packages (which importing
the module runs first anyway; see `_FORKING`): each package is imported once, not once per
module below it.
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


def test_module_list_is_complete():
    modules = kerasopt_modules()
    assert len(modules) > 200
    assert "kerasopt.compression.clustering.cluster_mean_constraint" in modules
    assert "kerasopt" in modules


# The snippet of docs/compression.md imports `kerasopt`, `kerasopt.compression`, then its
# `clustering` first: the state `import kerasopt; import kerasopt.compression.clustering`
# reaches (clustering imports Keras). So the interpreter checking that clustering imports alone
# goes on with the snippet's other two imports instead of a fourth interpreter (a TensorFlow
# import each) running the snippet from the start.
SNIPPET = "from kerasopt.compression import clustering, pruning, quantization"
ALONE = {name: f"import kerasopt; import kerasopt.compression.{name}; {REGISTERED}"
         for name in ("pruning", "quantization", "clustering")}
ALONE["clustering"] += f"; {SNIPPET}; {REGISTERED}"


@pytest.fixture(scope="module")
def compression_imports() -> dict[str, tuple[str, int, str]]:
    """Each of `ALONE`'s interpreters: (code, exit status, end of stderr), by package."""
    with ThreadPoolExecutor(max_workers=2) as pool:
        return dict(zip(ALONE, pool.map(_import_alone, ALONE.values()), strict=True))


def test_readme_compression_import_before_keras(compression_imports):
    """The snippet of docs/compression.md, before `import keras`; every component still registers."""
    code, status, stderr = compression_imports["clustering"]
    assert code.endswith(f"; {SNIPPET}; {REGISTERED}") and status == 0, stderr


@pytest.mark.slow
def test_compression_packages_alone_after_import_kerasopt(compression_imports):
    assert [result for result in compression_imports.values() if result[1] != 0] == []


# Importing `kerasopt.a.b` runs `kerasopt`'s `__init__` to its end, then `kerasopt.a`'s, and
# only then `kerasopt.a.b`: a module is always imported in an interpreter that has imported
# its parent packages (in that order) and nothing else of kerasopt. So the interpreters form
# a tree: the root has imported Keras (and so TensorFlow) and nothing of kerasopt; a child
# forked from an interpreter holding a package imports one module of that package and, when
# the module is a package itself, forks the children for its own modules. Each module is
# imported in exactly the state a fresh interpreter importing it first and alone after Keras
# reaches, and every package is imported once (not once per module below it). An
# interpreter whose import fails prints its traceback and the module's name, and its
# parent's status and the root's say so. Keras is imported before any kerasopt module:
# `kerasopt` then registers its components as soon as it is imported, the other order the
# quick tests above check.
_FORKING = """
import os, sys, traceback
import keras
MODULES = sys.argv[1:]


def check(name):
    # Fork a child importing `name`, then its own modules if it is a package; True if all imported.
    sys.stderr.flush()
    pid = os.fork()
    if pid == 0:
        ok = True
        try:
            __import__(name)
            assert keras.saving.get_registered_object('kerasopt>Lookahead') is not None, 'not registered'
        except BaseException:
            traceback.print_exc()
            print('FAILED', name, file=sys.stderr)
            ok = False
        else:
            print(name, flush=True)
            depth = name.count('.') + 1
            for module in MODULES:
                if module.startswith(name + '.') and module.count('.') == depth:
                    ok = check(module) and ok
        sys.stderr.flush()
        os._exit(0 if ok else 1)
    _, status = os.waitpid(pid, 0)
    return status == 0


sys.exit(0 if check('kerasopt') else 1)
"""


def test_every_module_imports_first_alone_after_keras():
    """All ~280 modules, each first and alone (after its parent packages) after Keras."""
    modules = kerasopt_modules()
    done = finish(start_python("-c", _FORKING, *modules, env={"TF_CPP_MIN_LOG_LEVEL": "3"}), timeout=900)
    assert done.returncode == 0, done.stderr[-3000:]
    assert sorted(done.stdout.split()) == sorted(modules)  # each imported once: none left out of the tree


@pytest.mark.parametrize("package", ["kerasopt.sweep", "kerasopt.compression"])
def test_every_lazily_loaded_name_of_a_package_resolves(package):
    # kerasopt.sweep.SweepSection pointed at a module that was moved (ModuleNotFoundError).
    module = importlib.import_module(package)
    for name in module.__all__:
        assert getattr(module, name).__name__ == name, (package, name)
