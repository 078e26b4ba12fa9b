"""Every registered kerasopt optimizer runs from a recipe, through the recipe runner."""

from __future__ import annotations

import math

import pytest
import yaml

from kerasopt.recipe.loader import load_recipe
from kerasopt.recipe.runner import run
from tests.optimizers.test_conformance import REGISTERED, _settings_for

RECIPE = {
    "name": "optimizer_from_recipe",
    "seed": 0,
    "data": {"source": "synthetic", "samples": 160, "input_shape": [6], "num_classes": 3,
             "test_split": 0.25, "batch_size": 24, "normalization": "standardize"},
    "model": {"architecture": "mlp", "units": [8]},
    "training": {"epochs": 4},
    "runtime": {"verbose": 0, "tensorboard": {"enabled": False}},
    "export": {"keras": False},
}

CASES = sorted(((names[0], cls) for cls, names in REGISTERED.items()), key=lambda case: case[0])


@pytest.mark.parametrize(("name", "cls"), CASES, ids=[name for name, _ in CASES])
def test_optimizer_trains_from_a_recipe(tmp_path, name, cls):
    settings = _settings_for(cls)
    assert settings is not None, f"{name} has no conformance settings"
    recipe = yaml.safe_load(yaml.safe_dump(RECIPE))
    recipe["training"]["optimizer"] = {"type": name, **settings.recipe_args}
    if settings.full_batch:
        recipe["data"].update(batch_size="full", shuffle=False, validation_split=0.0)
        recipe["training"]["epochs"] = 12
    path = tmp_path / "recipe.yaml"
    path.write_text(yaml.safe_dump(recipe))
    metrics = run(load_recipe(str(path)), output_dir=str(tmp_path / "out"))
    losses = metrics["stages"][0]["history"]["loss"]
    assert all(math.isfinite(loss) for loss in losses)
    assert losses[-1] < losses[0], f"{name}: loss did not decrease: {losses}"
    assert metrics["evaluation"]["test"]["accuracy"] > 1 / 3
