"""`training.ema` in a run: the average is validated, evaluated, exported, and resumed exactly."""

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

EMA = {"data": {"validation_split": 0.2},
       "training": {"epochs": 3, "optimizer": {"type": "adam", "learning_rate": 0.02},
                    "ema": {"decay": 0.9, "start": "1ep"}},
       "export": {"keras": True}}


def _trainable(path) -> list[np.ndarray]:  # noqa: ANN001
    return [v.numpy() for v in keras.saving.load_model(path).trainable_variables]


def test_a_resumed_ema_stage_ends_as_an_uninterrupted_one_and_exports_the_average(tmp_path, monkeypatch):
    path = write_tiny_recipe(tmp_path, **EMA)
    straight = run(load_recipe(path), output_dir=str(tmp_path / "straight"))
    restore = crash_at(monkeypatch, 1)  # after epoch 2's backup: the averages are in it
    with pytest.raises(RuntimeError, match="simulated crash"):
        run(load_recipe(path), output_dir=str(tmp_path / "out"))
    restore()
    resumed = run(load_recipe(path), output_dir=str(tmp_path / "out"), resume=True)

    for a, b in zip(_trainable(tmp_path / "out" / "model.keras"),
                    _trainable(tmp_path / "straight" / "model.keras"), strict=True):
        np.testing.assert_allclose(a, b, rtol=1e-6, atol=1e-7)
    history = straight["stages"][0]["history"]
    for key, values in history.items():
        np.testing.assert_allclose(resumed["stages"][0]["history"][key], values, rtol=1e-6, err_msg=key)
    # start "1ep" (9 steps: 144 training examples in batches of 16): the first epoch's average is
    # the weights; afterwards the average's validation differs from the trained weights'.
    assert straight["ema"]["stages"]["train"] == {"decay": 0.9, "start_step": 9, "every": 1}
    assert history["val_loss"][0] == pytest.approx(history["raw_val_loss"][0], rel=1e-6)
    assert abs(history["val_loss"][-1] - history["raw_val_loss"][-1]) > 1e-3
    # The average is what the run evaluates and exports: the final validation is the last
    # epoch's val_loss (the average's), and the exported weights are the optimizer's averages.
    assert straight["evaluation"]["validation"]["loss"] == pytest.approx(history["val_loss"][-1], rel=1e-6)
    exported = keras.saving.load_model(tmp_path / "straight" / "model.keras")
    averages = [v.numpy() for v in exported.optimizer.variables if v.name.endswith("_average")]
    assert len(averages) == len(exported.trainable_variables) > 0
    for average, weight in zip(averages, exported.trainable_variables, strict=True):
        np.testing.assert_array_equal(average, weight.numpy())


def test_ema_with_an_optimizer_that_averages_itself_is_refused(tmp_path, capsys):
    path = write_tiny_recipe(tmp_path, training={"optimizer": {"type": "swa", "optimizer": "sgd"},
                                                 "ema": {"decay": 0.99}})
    assert main(["run", path, "--output-dir", str(tmp_path / "out")]) == 2
    err = capsys.readouterr().err
    assert "training.ema: `training.ema` cannot be combined with `optimizer: swa`" in err
    assert "received: {'decay': 0.99}" in err and "Traceback" not in err
    assert not (tmp_path / "out").exists()


def test_ema_under_mixed_float16_around_a_kerasopt_wrapper_validates_and_exports_the_average(tmp_path, capsys):
    """Loss scaling wraps Lookahead, which wraps Adam: the average is two levels deep (exit 1 before)."""
    lookahead = {"type": "lookahead", "optimizer": EMA["training"]["optimizer"], "sync_period": 2}
    path = write_tiny_recipe(tmp_path, **{**EMA, "training": {**EMA["training"], "epochs": 2, "optimizer": lookahead},
                                          "runtime": {"mixed_precision": "mixed_float16"}})
    assert main(["run", path, "--output-dir", str(tmp_path / "out")]) == 0, capsys.readouterr().err
    history = json.loads((tmp_path / "out" / "metrics.json").read_text())["stages"][0]["history"]
    assert len(history["val_loss"]) == len(history["raw_val_loss"]) == 2
    assert history["val_loss"][1] != history["raw_val_loss"][1]  # the average, and the trained weights


def test_an_ema_start_at_or_past_its_stage_end_is_refused_before_anything_runs(tmp_path, capsys):
    """Before, such a stage ended with its plain weights while metrics.json reported an EMA stage."""
    stages = [{"name": "a"},  # the top level's 2 epochs, start 2ep: at the end
              {"name": "b", "training": {"epochs": None, "steps": 40, "ema": {"start": 40}}},
              {"name": "c", "training": {"ema": {"start": "1dur"}}},
              {"name": "d", "training": {"ema": {"start": "1.5ep"}}}]  # fine: before the end
    path = write_tiny_recipe(tmp_path, training={"epochs": 2, "ema": {"start": "2ep"}}, stages=stages)
    assert main(["validate", path]) == 2
    err = capsys.readouterr().err
    assert "3 problems found" in err and "Traceback" not in err
    for key, length, received in (("training.ema.start", "'a' (2 epochs)", "'2ep'"),
                                  ("stages[1].training.ema.start", "'b' (40 steps)", "40"),
                                  ("stages[2].training.ema.start", "'c' (2 epochs)", "'1dur'")):
        assert f"{key}: averaging starts at or after the end of stage {length}, so the average would " \
               f"never take in a step\n    received: {received}\n" in err

    # Steps against epochs compare once the data is built: 162 training samples in batches of
    # 16 are 11 steps per epoch, so 2 epochs end at step 22. Refused before the first stage trains.
    late = write_tiny_recipe(tmp_path, training={"epochs": 2, "ema": {"start": 22}})
    assert main(["validate", late]) == 0
    assert main(["run", late, "--output-dir", str(tmp_path / "out")]) == 2
    err = capsys.readouterr().err
    assert "training.ema.start: averaging starts at or after the end of stage 'train' (2 epochs of 11 steps)" in err
    assert "allowed: a start before the stage's end: fewer than 2 epochs, or a fraction below 1dur" in err
    assert not (tmp_path / "out").exists()
    assert main(["run", write_tiny_recipe(tmp_path, training={"epochs": 2, "ema": {"start": 21}}),
                 "--output-dir", str(tmp_path / "fine")]) == 0
