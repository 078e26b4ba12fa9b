"""Every registered kerasopt optimizer runs from a recipe, through the recipe runner."""

from __future__ import annotations

import math

import pytest

from kerasopt.recipe.check.loader import load_recipe
from kerasopt.recipe.run.runner import run
from tests.optimizers.test_conformance import REGISTERED, _settings_for
from tests.tiny_recipe import write_tiny_recipe

CASES = sorted(((names[0], cls) for cls, names in REGISTERED.items()), key=lambda case: case[0])


@pytest.mark.parametrize(("name", "cls"), CASES, ids=[name for name, _ in CASES])
def test_optimizer_trains_from_a_recipe(tmp_path, name, cls):
    settings = _settings_for(cls)
    assert settings is not None, f"{name} has no conformance settings"
    training = {"epochs": 4, "optimizer": {"type": name, **settings.recipe_args}}
    data = {"batch_size": 24}
    if settings.full_batch:
        data.update(batch_size="full", shuffle=False, validation_split=0.0)
        training["epochs"] = 12
    path = write_tiny_recipe(tmp_path, training=training, data=data)
    metrics = run(load_recipe(path), output_dir=str(tmp_path / "out"))
    losses = metrics["stages"][0]["history"]["loss"]
    assert all(math.isfinite(loss) for loss in losses)
    assert losses[-1] < losses[0], f"{name}: loss did not decrease: {losses}"
    assert metrics["evaluation"]["test"]["accuracy"] > 1 / 3
