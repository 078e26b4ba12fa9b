"""Augmentation from a recipe: bad values exit 2 at validate, a shape it cannot fit exits 2 at run, and a
time-series run trains and exports a model without augmentation in it."""

from __future__ import annotations

import json

import keras
import pytest
import yaml

from kerasopt.cli import main


def _recipe(folder, augmentation, data=None) -> str:
    recipe = {"name": "augmented", "seed": 0,
              "data": {"source": "mnist1d", "limit": 400, "batch_size": 100, "augmentation": augmentation,
                       **(data or {})},
              "model": {"architecture": "mlp", "units": [16]},
              "training": {"epochs": 1},
              "runtime": {"verbose": 0, "tensorboard": {"enabled": False}},
              "export": {"keras": True}}
    if recipe["data"]["source"] == "mnist1d":  # 500 sequences generated, not the paper's 5,000: ~5 s of CPU less
        recipe["data"]["num_samples"] = 500
    path = folder / "recipe.yaml"
    path.write_text(yaml.safe_dump(recipe))
    return str(path)


@pytest.mark.parametrize("step, fragments", [
    ({"type": "jitter", "sigma": -1}, ["data.augmentation[0].sigma: `sigma` of augmentation 'jitter' must be "
                                       "a finite number > 0", "received: -1"]),
    ({"type": "window_slice", "ratio": 1.5}, ["data.augmentation[0].ratio", "a number in (0, 1]",
                                              "received: 1.5"]),
    ({"type": "time_warp", "knots": 1}, ["data.augmentation[0].knots", "an integer >= 2", "received: 1"]),
    ({"type": "rand_augment", "value_range": [255, 0]}, ["data.augmentation[0].value_range", "low < high",
                                                         "received: [255, 0]"]),
    ({"type": "random_erasing", "scale": [0.5, 1.5]}, ["data.augmentation[0].scale", "0 < low <= high <= 1",
                                                       "received: [0.5, 1.5]"]),
    ({"type": "time_wrap"}, ["data.augmentation[0]", "time_wrap", "time_warp"]),
])
def test_bad_augmentation_values_exit_2_at_validate(tmp_path, capsys, step, fragments):
    assert main(["validate", _recipe(tmp_path, [step])]) == 2
    err = capsys.readouterr().err
    assert "Traceback" not in err and "data.augmentation[0]" in err
    for fragment in fragments:
        assert fragment in err, f"{fragment!r} not in:\n{err}"


@pytest.mark.parametrize("step, data, fragment", [
    ({"type": "random_erasing"}, {}, "type 'random_erasing' needs images (h, w, c); the inputs have shape (40, 1)"),
    ({"type": "window_slice"}, {"source": "synthetic", "samples": 60, "input_shape": [6, 6, 1], "num_classes": 2},
     "type 'window_slice' needs time series (steps, c) or (steps,)"),
])
def test_an_augmentation_that_does_not_fit_the_inputs_exits_2_before_training(tmp_path, capsys, step, data,
                                                                              fragment):
    if data:
        data = {**data, "limit": None}
    out = tmp_path / "runs"
    assert main(["run", _recipe(tmp_path, [step], data), "--output-dir", str(out)]) == 2
    err = capsys.readouterr().err
    assert fragment in err and "Traceback" not in err
    assert not out.exists()


def test_a_time_series_augmented_run_exports_a_model_without_augmentation(tmp_path, capsys):
    steps = [{"type": "time_warp", "sigma": 0.2}, {"type": "window_slice", "ratio": 0.9},
             {"type": "jitter", "sigma": 0.05}]
    out = tmp_path / "runs"
    assert main(["run", _recipe(tmp_path, steps), "--output-dir", str(out)]) == 0, capsys.readouterr().err
    (metrics_file,) = out.rglob("metrics.json")
    run = metrics_file.parent
    assert json.loads(metrics_file.read_text())  # the run finished and wrote its metrics
    model = keras.saving.load_model(run / "model.keras", safe_mode=True)
    kinds = {type(layer).__name__ for layer in model._flatten_layers()}
    assert kinds <= {"Functional", "Sequential", "InputLayer", "Flatten", "Dense", "Dropout", "Activation",
                     "Normalization"}, kinds
