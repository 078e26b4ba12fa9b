"""What needs training samples draws them from a streaming source instead of failing after training:
the int4 sensitivity pass, LSUV and QAT range calibration read the stream's first samples, weight
averaging's batch-norm pass reads the training files once (all exited 1 with NotInMemory before)."""

from __future__ import annotations

import copy
import json

import keras
import numpy as np
import pytest
import yaml

from kerasopt._keras_compat import flatten_layers
from kerasopt.cli import main
from kerasopt.data.build import build_data
from kerasopt.data.stream import draw_pool
from kerasopt.training.batch_norm import recompute_batch_norm_statistics


@pytest.fixture(scope="module")
def shards(tmp_path_factory):
    """96 training samples `(12, 1)` in 3 `.npz` shards, 24 test samples in one, 3 classes."""
    folder = tmp_path_factory.mktemp("shards")
    rng = np.random.default_rng(0)
    x = rng.normal(size=(120, 12, 1)).astype(np.float32)
    y = (np.arange(120) % 3).astype(np.int32)
    x[np.arange(120), y * 4, 0] += 3.0  # learnable: the class sets one bump
    for index, part in enumerate(np.array_split(np.arange(96), 3)):
        np.savez(folder / f"train-{index:03d}.npz", x=x[part], y=y[part])
    np.savez(folder / "test-000.npz", x=x[96:], y=y[96:])
    return folder, x[:96], y[:96]


def _options(folder):
    return {"files": str(folder / "train-*.npz"), "test_files": str(folder / "test-*.npz"), "num_classes": 3}


RECIPE = {"name": "bounded", "seed": 0, "data": {"source": "npz_shards", "batch_size": 32},
          "model": {"architecture": "fcn", "filters": [4], "kernel_size": 3},  # Conv1D, BatchNorm, Dense
          "training": {"epochs": 1, "optimizer": {"type": "adam", "learning_rate": 0.01}},
          "runtime": {"verbose": 0, "tensorboard": {"enabled": False}}, "export": {"keras": False}}
CASES = {
    "int4_sensitivity": {"export": {"keras": False, "tflite": {
        "quantization": "int4", "int4": {"keep_float": 1, "keep_as": "float"}, "verify": False,
        "float_baseline": False}}},
    "lsuv": {"model": {"kernel_initializer": "lsuv"}},
    "qat_calibration": {"stages": [{"name": "qat", "compression": {"qat": True}}],
                        "export": {"keras": False, "tflite": {"quantization": "int8", "verify": False,
                                                              "float_baseline": False}}},
    "swa_batch_norm": {"training": {"epochs": 1, "optimizer": {
        "type": "swa", "optimizer": {"type": "sgd", "learning_rate": 0.01}, "average_period": 1}},
                       "export": {"keras": True}},
}


def test_a_stream_gives_its_first_samples_in_file_order_for_inputs_and_labels(shards):
    folder, x, y = shards
    bundle = build_data("npz_shards", _options(folder), batch_size=32, validation_split=0, seed=0)
    np.testing.assert_array_equal(draw_pool(bundle.x_train, 40), x[:40])
    np.testing.assert_array_equal(draw_pool(bundle.y_train, 40), y[:40])
    whole = list(bundle.x_train.batches(50))
    np.testing.assert_array_equal(np.concatenate([b for b, _ in whole]), x)
    assert [len(b) for b, _ in whole] == [50, 46]


@pytest.mark.parametrize("case", sorted(CASES))
def test_a_feature_that_needs_samples_runs_from_a_stream(shards, tmp_path, capsys, case):
    recipe = copy.deepcopy(RECIPE)
    for key, value in CASES[case].items():
        recipe[key] = {**recipe[key], **value} if key in ("model", "training") else value
    recipe["data"].update(_options(shards[0]))
    path = tmp_path / "recipe.yaml"
    path.write_text(yaml.safe_dump(recipe))
    assert main(["run", str(path), "--output-dir", str(tmp_path / "out")]) == 0, capsys.readouterr().err
    metrics = json.loads((tmp_path / "out" / "metrics.json").read_text())
    assert np.isfinite(metrics["evaluation"]["test"]["loss"])
    if case == "int4_sensitivity":  # measured on the stream's first 96 training samples
        tflite = metrics["exports"]["tflite"]
        assert sorted(tflite["precisions"].values()) == ["float", "int4"]
        assert set(tflite["sensitivity"]) == set(tflite["precisions"])
    if case == "qat_calibration":
        assert metrics["exports"]["tflite"]["quantization"] == "int8"
        assert [s["name"] for s in metrics["stages"]] == ["qat"]
    if case == "swa_batch_norm":  # the moving statistics are those of one pass over the training files
        model = keras.saving.load_model(tmp_path / "out" / "model.keras")
        norm = next(layer for layer in flatten_layers(model) if isinstance(layer, keras.layers.BatchNormalization))
        stored = [np.array(norm.moving_mean), np.array(norm.moving_variance)]
        recompute_batch_norm_statistics(model, shards[1], batch_size=32)
        np.testing.assert_allclose(stored[0], np.array(norm.moving_mean), rtol=1e-5, atol=1e-6)
        np.testing.assert_allclose(stored[1], np.array(norm.moving_variance), rtol=1e-5, atol=1e-6)
        assert np.abs(stored[0]).max() > 1e-3  # not the initial zeros
