"""Helpers for recipe tests: write YAML into a temp folder and load it."""

from __future__ import annotations

import textwrap
from pathlib import Path

import pytest

from kerasopt.recipe.check.loader import load_recipe
from kerasopt.recipe.errors import RecipeError

MINIMAL = """\
name: tiny
data: {source: digits}
model: {architecture: mlp, units: [8]}
"""


@pytest.fixture
def write(tmp_path: Path):
    """Write a dedented YAML text to `tmp_path/name` and return its path as a string."""

    def _write(text: str, name: str = "recipe.yaml") -> str:
        path = tmp_path / name
        path.write_text(textwrap.dedent(text))
        return str(path)

    return _write


@pytest.fixture
def problems(write):
    """Load a recipe text that must fail; return its RecipeError."""

    def _problems(text: str, overrides: tuple[str, ...] = ()) -> RecipeError:
        with pytest.raises(RecipeError) as info:
            load_recipe(write(text), overrides)
        return info.value

    return _problems


@pytest.fixture(scope="module")
def transfer_source_model(tmp_path_factory):
    """Run in a folder holding the model.keras files that recipes load (digits_mlp writes digits_transfer's).

    Validation checks that a recipe's `.keras` paths exist; relative paths start at the
    current directory.
    """
    folder = tmp_path_factory.mktemp("cwd")
    model_file = folder / "saved_models" / "digits_mlp" / "model.keras"
    # ...and the source model of the transfer-learning study (recipes/studies/transfer_learning).
    study_source = folder / "saved_models" / "technique_studies" / "transfer_learning" / "source" / "model.keras"
    for path in (model_file, study_source):
        path.parent.mkdir(parents=True)
        path.write_bytes(b"")
    with pytest.MonkeyPatch.context() as patch:
        patch.chdir(folder)
        yield model_file
