"""`runtime.scale_learning_rate`, `runtime.base_batch_size` and `runtime.mixed_precision: auto`."""

from __future__ import annotations

import contextlib
import io
from pathlib import Path

import pytest
import yaml

from kerasopt.cli import main as cli_main
from kerasopt.recipe.check.loader import load_recipe
from kerasopt.recipe.errors import RecipeError, format_path
from tests.tiny_recipe import TINY, write_tiny_recipe


def _load(tmp_path: Path, runtime: dict, data: dict | None = None):  # noqa: ANN202
    recipe = {**TINY, "runtime": {**TINY["runtime"], **runtime}, "data": {**TINY["data"], **(data or {})}}
    path = tmp_path / "recipe.yaml"
    path.write_text(yaml.safe_dump(recipe))
    return load_recipe(str(path))


def _problem(tmp_path: Path, runtime: dict, data: dict | None = None) -> str:
    with pytest.raises(RecipeError) as info:
        _load(tmp_path, runtime, data)
    return "\n".join(f"{format_path(p.path)}: {p.render()}" for p in info.value.problems)


def test_scaling_and_auto_precision_load(tmp_path: Path) -> None:
    loaded = _load(tmp_path, {"scale_learning_rate": "linear", "base_batch_size": 8,
                              "mixed_precision": "auto"})
    runtime = loaded.recipe.runtime
    assert (runtime.scale_learning_rate, runtime.base_batch_size, runtime.mixed_precision) == (
        "linear", 8, "auto")


def test_linear_scaling_needs_a_numeric_batch_size(tmp_path: Path) -> None:
    message = _problem(tmp_path, {"scale_learning_rate": "linear"}, {"batch_size": "auto"})
    assert "needs a numeric data.batch_size (received 'auto')" in message
    assert "data.batch_size_search.scale_lr" in message


def test_base_batch_size_needs_linear_scaling(tmp_path: Path) -> None:
    message = _problem(tmp_path, {"base_batch_size": 32})
    assert "runtime.base_batch_size applies only with runtime.scale_learning_rate: linear" in message


def test_unknown_precision_lists_auto(tmp_path: Path) -> None:
    message = _problem(tmp_path, {"mixed_precision": "float16"})
    assert "runtime.mixed_precision" in message
    assert "auto" in message


def test_scaling_a_schedule_is_refused_before_anything_is_written(tmp_path: Path) -> None:
    # batch 16 against a base of 8: factor 2, which a schedule cannot take.
    schedule = {"type": "exponential_decay", "initial_learning_rate": 0.1, "decay_steps": 10,
                "decay_rate": 0.9}
    recipe = write_tiny_recipe(tmp_path, training={"epochs": 1, "optimizer": {
        "type": "sgd", "learning_rate": schedule}}, runtime={
        "scale_learning_rate": "linear", "base_batch_size": 8, "device": "cpu"})
    stderr = io.StringIO()
    with contextlib.redirect_stderr(stderr):
        status = cli_main(["run", recipe, "--output-dir", str(tmp_path / "run")])
    assert status == 2
    assert "training.optimizer.learning_rate: runtime.scale_learning_rate: linear multiplies" in stderr.getvalue()
    assert "(factor 2)" in stderr.getvalue()
    assert not (tmp_path / "run").exists()
