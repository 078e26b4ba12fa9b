"""Compression end to end through `kerasopt run`: prune, then QAT or clustering, to a verified int8 file."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import yaml

from kerasopt.cli import main

BASE = {
    "name": "compress_tiny", "seed": 0,
    "data": {"source": "synthetic", "samples": 300, "input_shape": [12, 1], "num_classes": 3,
             "test_split": 0.25, "validation_split": 0.2, "batch_size": 20},
    "model": {"layers": [
        {"type": "Conv1D", "filters": 8, "kernel_size": 3, "activation": "relu"},
        {"type": "Flatten"},
        {"type": "Dense", "units": 16, "activation": "relu"},
        {"type": "Dense", "units": 3, "activation": "softmax"}]},
    "training": {"optimizer": {"type": "adam", "learning_rate": 0.01}},
    "runtime": {"verbose": 0},
    "export": {"keras": True, "tflite": {"quantization": "int8"}},
}
PRUNE = {"name": "prune", "epochs": 3, "compression": {"pruning": {"pruning_schedule": {
    "type": "polynomial_decay", "initial_sparsity": 0.0, "final_sparsity": 0.6, "begin_step": 0,
    "end_step": "0.7dur", "frequency": 5}}}}


def _run(tmp_path: Path, last_stage: dict, *extra: str) -> tuple[dict, Path]:
    recipe = dict(BASE, stages=[{"name": "train", "epochs": 3}, PRUNE, last_stage])
    path = tmp_path / "recipe.yaml"
    path.write_text(yaml.safe_dump(recipe))
    out = tmp_path / "out"
    assert main(["run", str(path), "--output-dir", str(out), *extra]) == 0
    return json.loads((out / "metrics.json").read_text()), out


def _kernels(path: Path) -> dict[str, np.ndarray]:
    import keras

    import kerasopt  # noqa: F401 - registers kerasopt's layers for loading

    model = keras.saving.load_model(path, safe_mode=True)
    found = {}
    for layer in model.layers:
        inner = getattr(layer, "layer", layer)
        if hasattr(inner, "kernel"):
            found[inner.name] = keras.ops.convert_to_numpy(inner.kernel)
    return found


def _check_pruned(metrics: dict, kernels: dict[str, np.ndarray]) -> None:
    # Each kernel keeps round(size * 0.4) weights: its sparsity is 0.6 to within one weight.
    for name, kernel in kernels.items():
        zeros = float(np.mean(kernel == 0))
        assert abs(zeros - 0.6) <= 1 / kernel.size + 1e-9, (name, zeros)
        assert metrics["sparsity_per_layer"][name] == pytest.approx(zeros)
    total = sum(k.size for k in kernels.values())
    assert metrics["sparsity"] == pytest.approx(sum(int((k == 0).sum()) for k in kernels.values()) / total)


@pytest.mark.slow
def test_prune_then_qat_exports_a_verified_int8_file_that_keeps_the_zeros(tmp_path):
    qat = {"name": "qat", "epochs": 2, "training": {"optimizer": {"learning_rate": 0.001}},
           "compression": {"qat": True}}
    metrics, out = _run(tmp_path, qat)
    _check_pruned(metrics, _kernels(out / "model.keras"))
    int8, flt = metrics["exports"]["tflite"], metrics["exports"]["tflite_float"]
    assert int8["quantization"] == "int8" and int8["int8_ranges"] == "trained"
    assert int8["agreement"] >= 0.95  # argmax of the int8 file vs the fake-quant Keras model
    assert int8["keras_accuracy"] - int8["accuracy"] <= 0.02
    assert flt["quantization"] == "none" and int8["gzip_bytes"] < flt["gzip_bytes"] / 2
    assert [s["name"] for s in metrics["stages"]] == ["train", "prune", "qat"]
    # --resume of the finished run rebuilds every stage's wrappers and loads its weights: the
    # masks and the quantization ranges come back, so the numbers are the same.
    again, _ = _run(tmp_path, qat, "--resume")
    assert again["sparsity"] == metrics["sparsity"]
    assert again["evaluation"]["test"] == pytest.approx(metrics["evaluation"]["test"], rel=1e-6)
    assert again["exports"]["tflite"]["accuracy"] == int8["accuracy"]


@pytest.mark.slow
def test_prune_then_cluster_keeps_the_zeros_and_the_shared_values(tmp_path):
    cluster = {"name": "cluster", "epochs": 1, "compression": {"clustering": {"number_of_clusters": 4}}}
    # What is checked is the kernels' form. The gate holds the int8 file against the float model
    # before pruning; 4 clusters of this tiny model cost 3 of the 75 test samples (4 points) here.
    metrics, out = _run(tmp_path, cluster, "export.tflite.max_accuracy_drop=0.1")
    kernels = _kernels(out / "model.keras")
    _check_pruned(metrics, kernels)
    for name, kernel in kernels.items():
        assert len(np.unique(kernel[kernel != 0])) <= 4, name
        assert metrics["clustering"]["layers"][name]["clusters"] == 4
    assert metrics["exports"]["tflite"]["int8_ranges"] == "calibrated"
