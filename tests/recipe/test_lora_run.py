"""`training.lora` in a run: only the factors train, a mid-stage resume is exact, the export is merged."""

from __future__ import annotations

import json

import keras
import numpy as np
import pytest

from kerasopt.cli import main
from kerasopt.recipe.check.loader import load_recipe
from kerasopt.recipe.run.runner import run
from tests.recipe.test_resume import crash_at
from tests.tiny_recipe import write_tiny_recipe

LORA = {"data": {"validation_split": 0.2},
        "model": {"architecture": "mlp", "units": [8]},
        "training": {"epochs": 3, "optimizer": {"type": "adam", "learning_rate": 0.05},
                     "lora": {"rank": 2, "layers": ["*"]}},
        "export": {"keras": True}}


def test_a_resumed_lora_stage_ends_as_an_uninterrupted_one_and_exports_merged_kernels(tmp_path, monkeypatch):
    path = write_tiny_recipe(tmp_path, **LORA)
    straight = run(load_recipe(path), output_dir=str(tmp_path / "straight"))
    restore = crash_at(monkeypatch, 1)  # after epoch 2's backup: the factors must come back from it
    with pytest.raises(RuntimeError, match="simulated crash"):
        run(load_recipe(path), output_dir=str(tmp_path / "out"))
    restore()
    resumed = run(load_recipe(path), output_dir=str(tmp_path / "out"), resume=True)

    # Two Dense layers, 6 -> 8 -> 3, rank 2: 2 * (6 + 8) + 2 * (8 + 3) trainable parameters.
    assert straight["lora"]["trainable_params"] == 28 + 22
    assert straight["lora"]["rank"] == 2 and len(straight["lora"]["layers"]) == 2
    exported = {name: keras.saving.load_model(tmp_path / name / "model.keras") for name in ("straight", "out")}
    for a, b in zip(exported["out"].get_weights(), exported["straight"].get_weights(), strict=True):
        np.testing.assert_allclose(a, b, rtol=1e-6, atol=1e-7)
    for key, values in straight["stages"][0]["history"].items():
        np.testing.assert_allclose(resumed["stages"][0]["history"][key], values, rtol=1e-6, err_msg=key)
    # The exported model has plain Dense layers (merged kernels), and it is the model evaluated.
    model = exported["straight"]
    dense = [layer for layer in model.layers if isinstance(layer, keras.layers.Dense)]
    assert len(dense) == 2 and all(not layer.lora_enabled and "lora_rank" not in layer.get_config()
                                   for layer in dense)
    assert not [w.path for w in model.weights if "lora" in w.path]


@pytest.mark.parametrize(("sections", "expected"), [
    ({"training": {"lora": {"rank": 2}}, "stages": [{"name": "a"}, {"name": "b"}]},
     ["1 problem found", "training.lora: `lora` is set in stage 'a', which is not the last stage",
      "received: {'rank': 2}", "allowed: lora in the last stage's `training:` only (stage 'b')"]),
    # Validate used to pass these two; the run refused them after building the model.
    ({"stages": [{"name": "a", "epochs": 1, "training": {"lora": {"rank": 2}}}, {"name": "b", "epochs": 1}]},
     ["1 problem found", "stages[0].training.lora: `lora` is set in stage 'a', which is not the last stage",
      "received: {'rank': 2}"]),
    ({"training": {"lora": {"rank": 4, "layers": []}}},
     ["1 problem found", "training.lora.layers: an empty list adapts no layer", "default ['*']",
      "received: []"]),
])
def test_lora_recipes_the_run_cannot_follow_are_refused_by_validate(tmp_path, capsys, sections, expected):
    path = write_tiny_recipe(tmp_path, **sections)
    for command in (["validate", path], ["run", path, "--output-dir", str(tmp_path / "out")]):
        assert main(command) == 2, command
        err = capsys.readouterr().err
        assert all(fragment in err for fragment in expected), err
        assert "Traceback" not in err and not (tmp_path / "out").exists()


def test_lora_trains_under_a_strategy(tmp_path, capsys):
    # The factors used to be made outside the strategy's scope: exit 1, "`colocate_vars_with`
    # must only be passed a variable created in this tf.distribute.Strategy.scope()" (and the
    # same on `--resume`, which goes through the same `stage_start`).
    path = write_tiny_recipe(tmp_path, **{**LORA, "training": {**LORA["training"], "epochs": 1}},
                             runtime={"strategy": "mirrored"})
    out = tmp_path / "out"
    assert main(["run", path, "--output-dir", str(out)]) == 0, capsys.readouterr().err
    metrics = json.loads((out / "metrics.json").read_text())
    assert metrics["runtime"]["strategy"] == "mirrored"
    assert metrics["lora"]["trainable_params"] == 28 + 22
