"""`compression: {low_rank: ...}` through `kerasopt run`: factorize, fine-tune, export int8, resume."""

from __future__ import annotations

import json

import numpy as np
import pytest
import yaml

from kerasopt.cli import main

RECIPE = {
    "name": "low_rank_tiny", "seed": 0,
    "data": {"source": "synthetic", "samples": 240, "input_shape": [12, 1], "num_classes": 3,
             "test_split": 0.25, "validation_split": 0.2, "batch_size": 20},
    "model": {"layers": [
        {"type": "Conv1D", "filters": 16, "kernel_size": 3, "activation": "relu", "name": "conv"},
        {"type": "Flatten"},
        {"type": "Dense", "units": 32, "activation": "relu", "name": "hidden"},
        {"type": "Dense", "units": 3, "activation": "softmax", "name": "probs"}]},
    "training": {"optimizer": {"type": "adam", "learning_rate": 0.01}},
    "runtime": {"verbose": 0, "tensorboard": {"enabled": False}},
    "stages": [{"name": "train", "epochs": 2},
               {"name": "factorize", "epochs": 1,
                "compression": {"low_rank": {"params_ratio": 0.25, "layers": ["conv", "hidden"]}}}],
    "export": {"keras": True, "tflite": {"quantization": "int8"}},
}


@pytest.mark.slow
def test_factorize_fine_tune_export_int8_and_resume_with_the_stored_ranks(tmp_path, capsys):
    import keras

    path, out = tmp_path / "recipe.yaml", tmp_path / "out"
    path.write_text(yaml.safe_dump(RECIPE))
    assert main(["run", str(path), "--output-dir", str(out)]) == 0
    metrics = json.loads((out / "metrics.json").read_text())
    low_rank = metrics["low_rank"]
    # conv: kernel (3 * 1, 16) = 3 x 16, max useful rank (48 - 1) // 19 = 2; 0.25 * 48 // 19 = 0 -> 1.
    # hidden: kernel (10 * 16, 32) = 160 x 32; 0.25 * 5120 // 192 = 6.
    assert {n: e["rank"] for n, e in low_rank["layers"].items()} == {"conv": 1, "hidden": 6}
    assert low_rank["layers"]["hidden"]["params_after"] == 6 * 192 + 32
    before = (3 * 16 + 16) + (160 * 32 + 32) + (32 * 3 + 3)
    after = (1 * 19 + 16) + (6 * 192 + 32) + (32 * 3 + 3)
    assert (low_rank["params_before"], low_rank["params_after"], metrics["params"]) == (before, after, after)
    progress = json.loads((out / "checkpoints" / "progress.json").read_text())
    assert progress["techniques"]["low_rank"]["factorize"]["layers"]["hidden"]["rank"] == 6
    model = keras.saving.load_model(out / "model.keras", safe_mode=True)
    names = [layer.name for layer in model.layers[1:]]  # Flatten keeps its (process-dependent) Keras name
    assert names[:2] + names[3:] == ["conv_lowrank", "conv", "hidden_lowrank", "hidden", "probs"]
    assert names[2].startswith("flatten")
    tflite = metrics["exports"]["tflite"]
    assert tflite["quantization"] == "int8" and tflite["accuracy"] >= metrics["evaluation"]["test"]["accuracy"] - 0.05
    assert metrics["exports"]["tflite_float"]["bytes"] > 0  # the float file of the model before factorizing

    # Make the first stage's kernels rank 1: ranks chosen again from them would differ
    # (hidden at rank 1), and the factorized stage's weights would no longer load. --resume
    # rebuilds the architecture from the stored ranks instead, loads both stages and trains nothing.
    import h5py

    with h5py.File(out / "checkpoints" / "stage_0_train.weights.h5", "r+") as weights:
        kernel = weights["layers/dense/vars/0"]
        kernel[...] = np.outer(np.ones(kernel.shape[0]), np.arange(kernel.shape[1])).astype("float32")
    capsys.readouterr()
    assert main(["run", str(path), "--output-dir", str(out), "--resume"]) == 0
    assert "trained again" not in capsys.readouterr().err
    again = json.loads((out / "metrics.json").read_text())
    assert again["low_rank"] == low_rank
    assert again["evaluation"]["test"] == metrics["evaluation"]["test"]


@pytest.mark.parametrize(("low_rank", "message"), [
    ({"energy": 0.9, "params_ratio": 0.5}, "not both"),
    ({"energy": 1.5}, "less than or equal to 1"),
    ({"params_ratio": 1.0}, "less than 1"),
])
def test_bad_low_rank_settings_exit_2_at_validate(tmp_path, capsys, low_rank, message):
    recipe = dict(RECIPE, stages=[{"name": "factorize", "compression": {"low_rank": low_rank}}])
    path = tmp_path / "bad.yaml"
    path.write_text(yaml.safe_dump(recipe))
    assert main(["validate", str(path)]) == 2
    err = capsys.readouterr().err
    assert "low_rank" in err and message in err and "Traceback" not in err
