"""kerasopt's import contracts (`[tool.importlinter]` in pyproject.toml), checked with import-linter.

No import cycle at any depth, and no import from a lower layer to a higher one. The
contracts are proved to bite on a copy of the package with one bad import added.
"""

from __future__ import annotations

import os
import pkgutil
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

try:
    import tomllib
except ModuleNotFoundError:  # Python 3.10
    import tomli as tomllib

import kerasopt
import kerasopt.recipe

REPO = Path(__file__).resolve().parents[1]
LINT_IMPORTS = Path(sys.executable).with_name("lint-imports")


def _contracts() -> list[dict]:
    with open(REPO / "pyproject.toml", "rb") as stream:
        return tomllib.load(stream)["tool"]["importlinter"]["contracts"]


def _lint_imports(root: Path) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "PYTHONPATH": str(root)}
    return subprocess.run([str(LINT_IMPORTS), "--config", str(REPO / "pyproject.toml"), "--no-cache"],
                          cwd=root, env=env, capture_output=True, text=True, timeout=120)


def _layered(layers: list[str], prefix: str = "") -> set[str]:
    return {prefix + name.strip() for layer in layers for name in layer.split("|")}


def test_the_package_keeps_its_import_contracts():
    result = _lint_imports(REPO)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "Contracts: 3 kept, 0 broken." in result.stdout


def test_every_module_has_a_layer():
    """A new top-level module or recipe phase must be placed in a layer, or the contract misses it."""
    top, recipe = (c for c in _contracts() if c["type"] == "layers")
    modules = {f"kerasopt.{m.name}" for m in pkgutil.iter_modules(kerasopt.__path__)}
    assert modules == _layered(top["layers"])
    phases = {m.name for m in pkgutil.iter_modules(kerasopt.recipe.__path__)}
    assert phases == _layered(recipe["layers"])


@pytest.mark.parametrize(("module", "bad_import", "expected"), [
    ("registry.py", "import kerasopt.recipe.run.runner",
     "kerasopt.registry is not allowed to import kerasopt.recipe"),
    ("recipe/format/fields.py", "import kerasopt.recipe.store.run_dir",
     "kerasopt.recipe.format is not allowed to import kerasopt.recipe.store"),
    ("compile_names.py", "import kerasopt.registry",
     "No cycles are allowed in kerasopt."),
])
def test_an_upward_import_or_a_cycle_breaks_a_contract(tmp_path, module, bad_import, expected):
    shutil.copytree(REPO / "kerasopt", tmp_path / "kerasopt", ignore=shutil.ignore_patterns("__pycache__"))
    target = tmp_path / "kerasopt" / module
    target.write_text(target.read_text(encoding="utf-8") + f"\n{bad_import}\n", encoding="utf-8")
    result = _lint_imports(tmp_path)
    assert result.returncode == 1, result.stdout
    assert expected in " ".join(result.stdout.split())
