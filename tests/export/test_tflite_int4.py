"""int4 weights in a TFLite file LiteRT runs (ai-edge-quantizer), with measured mixed precision."""

from __future__ import annotations

import json

import keras
import numpy as np
import pytest
import yaml

from kerasopt.cli import main
from kerasopt.export.tflite import export_tflite
from kerasopt.export.tflite_low_bit import _interpreter, export_tflite_int4
from kerasopt.export.tflite_verify import run_tflite


@pytest.fixture(scope="module")
def model_and_data():
    keras.utils.set_random_seed(0)
    model = keras.Sequential([
        keras.Input((24, 1)), keras.layers.Conv1D(16, 5, activation="relu", name="conv"),
        keras.layers.Flatten(name="flat"), keras.layers.Dense(64, activation="relu", name="hidden"),
        keras.layers.Dense(5, name="logits")], name="cnn")
    x = np.random.default_rng(0).normal(size=(160, 24, 1)).astype("float32")
    return model, x, model.predict(x, verbose=0).argmax(axis=1)  # the float model is right on every sample


def _weights(path, op_name, position=0):
    """The int weights and scales of the `position`-th op called `op_name` in the file."""
    interpreter = _interpreter(path)
    ops = [op for op in interpreter._get_ops_details() if op["op_name"] == op_name]
    detail = next(t for t in interpreter.get_tensor_details() if t["index"] == ops[position]["inputs"][1])
    return interpreter.get_tensor(detail["index"]), detail["quantization_parameters"]["scales"]


def test_int4_weights_per_channel_and_blockwise_run_in_litert(tmp_path, model_and_data):
    model, x, _ = model_and_data
    float_info = export_tflite(model, tmp_path / "float.tflite")
    info = export_tflite_int4(model, tmp_path / "int4.tflite")
    assert info["precisions"] == {"conv": "int4", "hidden": "int4", "logits": "int4"}
    # 320 * 64 hidden weights dominate: 4 bits instead of 32 (plus one float scale per channel).
    assert info["bytes"] < float_info["bytes"] / 5
    # Symmetric int4 per output channel: scale = max|w| / 7, q = round(w / scale) in [-7, 7].
    kernel = keras.ops.convert_to_numpy(model.get_layer("hidden").kernel).T  # FULLY_CONNECTED: (out, in)
    q, scales = _weights(tmp_path / "int4.tflite", "FULLY_CONNECTED")
    np.testing.assert_allclose(scales, np.abs(kernel).max(axis=1) / 7, rtol=1e-6)
    assert q.min() >= -8 and q.max() <= 7
    assert np.mean(q == np.round(kernel / scales[:, None])) > 0.999  # ties may round either way
    reference = model.predict(x, verbose=0)
    outputs = run_tflite(tmp_path / "int4.tflite", x)
    assert np.abs(outputs - reference).max() < 0.1 * np.abs(reference).max()

    block = export_tflite_int4(model, tmp_path / "block.tflite", granularity="block", block_size=32)
    q, scales = _weights(tmp_path / "block.tflite", "FULLY_CONNECTED")
    assert scales.size == 64 * 320 // 32  # one scale per 32 inputs of each output channel
    blocks = kernel.reshape(64, 10, 32)  # blockwise scales are float16 (within 0.4% here)
    np.testing.assert_allclose(scales.reshape(64, 10), np.abs(blocks).max(axis=2) / 7, rtol=5e-3)
    assert np.abs(run_tflite(tmp_path / "block.tflite", x) - reference).max() <= np.abs(outputs - reference).max() * 2
    assert block["bytes"] < float_info["bytes"] / 5


def test_sensitivity_pass_keeps_the_most_sensitive_layer_at_int8(tmp_path, model_and_data):
    model, x, y = model_and_data
    info = export_tflite_int4(model, tmp_path / "mixed.tflite", keep_float=1, validation=(x, y))
    sensitivity = info["sensitivity"]
    assert set(sensitivity) == {"conv", "hidden", "logits"}
    ranked = sorted(sensitivity, key=lambda n: (sensitivity[n]["accuracy_drop"], sensitivity[n]["output_change"]))
    assert info["precisions"] == {name: "int8" if name == ranked[-1] else "int4" for name in sensitivity}
    for entry in sensitivity.values():  # the float model is right everywhere: drop = 1 - accuracy
        assert entry["accuracy_drop"] == pytest.approx(1.0 - entry["accuracy"])
        assert entry["output_change"] > 0
    # The kept layer holds int8 weights: scale = max|w| / 127 per channel.
    position = {"conv": ("CONV_2D", 0), "hidden": ("FULLY_CONNECTED", 0), "logits": ("FULLY_CONNECTED", 1)}
    kernel = keras.ops.convert_to_numpy(model.get_layer(ranked[-1]).kernel)
    kernel = kernel.reshape(-1, kernel.shape[-1]).T
    q, scales = _weights(tmp_path / "mixed.tflite", *position[ranked[-1]])
    np.testing.assert_allclose(scales, np.abs(kernel).max(axis=1) / 127, rtol=1e-6)
    assert np.abs(q).max() == 127

    floated = export_tflite_int4(model, tmp_path / "floated.tflite", max_drop=0.0, keep_as="float",
                                 validation=(x, y))
    assert floated["precisions"] == {n: "float" if e["accuracy_drop"] > 0 else "int4"
                                     for n, e in floated["sensitivity"].items()}


RECIPE = {
    "name": "int4_tiny", "seed": 0,
    "data": {"source": "synthetic", "samples": 240, "input_shape": [16], "num_classes": 3,
             "test_split": 0.25, "validation_split": 0.2, "batch_size": 20},
    "model": {"architecture": "mlp", "units": [64]},
    "training": {"epochs": 2, "optimizer": {"type": "adam", "learning_rate": 0.01}},
    "runtime": {"verbose": 0, "tensorboard": {"enabled": False}},
    "export": {"keras": False, "tflite": {"quantization": "int4", "int4": {"keep_float": 1, "keep_as": "float"}}},
}


@pytest.mark.slow
def test_int4_from_a_recipe_is_verified_profiled_and_reports_the_sensitivities(tmp_path):
    path, out = tmp_path / "recipe.yaml", tmp_path / "out"
    path.write_text(yaml.safe_dump(RECIPE))
    assert main(["run", str(path), "--output-dir", str(out)]) == 0
    exported = json.loads((out / "metrics.json").read_text())["exports"]
    tflite = exported["tflite"]
    assert tflite["quantization"] == "int4" and tflite["samples"] > 0
    assert sorted(tflite["precisions"].values()) == ["float", "int4"]
    assert set(tflite["sensitivity"]) == set(tflite["precisions"])
    assert tflite["accuracy"] >= tflite["keras_accuracy"] - 0.1
    assert tflite["bytes"] < exported["tflite_float"]["bytes"]
    assert tflite["speedup"] > 0  # timed against model_float.tflite in the same rounds


@pytest.mark.parametrize(("tflite", "message"), [
    ({"quantization": "int4", "io": "int8"}, "needs quantization: int8"),
    ({"quantization": "int8", "int4": {"keep_float": 1}}, "int4 options go with quantization: int4"),
    ({"quantization": "int4", "int4": {"block_size": 48}}, "block_size"),
    ({"quantization": "int4", "int4": {"sensitivity": {"max_drop": 2}}}, "max_drop"),
])
def test_int4_combinations_that_cannot_be_made_exit_2_at_validate(tmp_path, capsys, tflite, message):
    path = tmp_path / "bad.yaml"
    path.write_text(yaml.safe_dump(dict(RECIPE, export={"tflite": tflite})))
    assert main(["validate", str(path)]) == 2
    err = capsys.readouterr().err
    assert message in err and "Traceback" not in err


def test_qat_with_int4_exits_2_at_validate(tmp_path, capsys):
    path = tmp_path / "bad.yaml"
    path.write_text(yaml.safe_dump(dict(RECIPE, compression={"qat": True})))
    assert main(["validate", str(path)]) == 2
    assert "quantization must be 'int8'" in capsys.readouterr().err
