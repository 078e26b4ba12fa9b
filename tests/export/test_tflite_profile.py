"""Latency, memory and ops of every verified TFLite file (issue 22, item 2), and the min_speedup gate."""

from __future__ import annotations

import json

import yaml

from kerasopt.cli import main
from kerasopt.report.comparison import Comparison

RECIPE = {"name": "speed", "seed": 0,
          "data": {"source": "digits", "test_split": 0.2, "batch_size": 64},
          "model": {"architecture": "mlp", "units": [64, 32], "activation": "relu"},
          "training": {"epochs": 2, "optimizer": {"type": "adam", "learning_rate": 0.003}},
          "runtime": {"verbose": 0, "tensorboard": {"enabled": False}},
          "export": {"keras": False, "tflite": {"quantization": "int8", "io": "int8", "min_speedup": 1000}}}


def test_metrics_hold_latency_memory_and_ops_and_min_speedup_fails_naming_the_ratio(tmp_path, capsys):
    path, out = tmp_path / "recipe.yaml", tmp_path / "run"
    path.write_text(yaml.safe_dump(RECIPE))
    assert main(["run", str(path), "--output-dir", str(out)]) == 1
    err = capsys.readouterr().err
    exports = json.loads((out / "metrics.json").read_text())["exports"]
    deployed, floating = exports["tflite"], exports["tflite_float"]
    assert deployed["io"] == "int8" and deployed["accuracy"] > 0.8
    for info in (deployed, floating):
        assert info["latency_us"] > 0 and info["activation_bytes"] > 0 and info["constant_bytes"] > 0
    # The float file's Dense layers are FULLY_CONNECTED ops in float; the integer-only file runs its
    # per-channel int8 Dense layers as CONV_2D (measured: CONV_2D 3, QUANTIZE 1, RELU 2, RESHAPE 6,
    # SOFTMAX 1), none in float.
    assert floating["ops"] == {"FULLY_CONNECTED": 3, "SOFTMAX": 1}
    assert floating["float_ops"] == ["FULLY_CONNECTED", "SOFTMAX"]
    assert deployed["ops"]["CONV_2D"] == 3 and deployed["float_ops"] == []
    # int8 weights: measured 6,944 constant bytes against 26,280 in float.
    assert 3 * deployed["constant_bytes"] < floating["constant_bytes"]
    ratio = floating["latency_us"] / deployed["latency_us"]
    assert deployed["speedup"] == ratio and "speedup" not in floating
    assert f"runs {ratio:.2f}x as fast as model_float.tflite" in err
    assert "export.tflite.min_speedup asks for 1000.0x" in err and "Traceback" not in err
    assert "Try quantization: int8" not in err  # the file already is int8: the advice says what is left
    # `kerasopt compare` shows the raw bytes, latency and speedup of the deployed file.
    headers, cells = Comparison([out]).table()
    row = dict(zip(headers, cells[0], strict=True))
    assert row["tflite bytes"] == str(deployed["bytes"])
    assert row["tflite latency us"] == f"{deployed['latency_us']:.1f}" and row["tflite speedup"] == f"{ratio:.2f}"


def test_an_int8_file_names_the_ops_left_in_float(tmp_path):
    import keras
    import numpy as np

    from kerasopt.export.tflite import export_tflite
    from kerasopt.export.tflite_profile import profile_tflite

    rng = np.random.default_rng(0)
    # The leading Rescaling runs in float on the raw input (see export_tflite): a MUL in float.
    model = keras.Sequential([keras.Input((6,)), keras.layers.Rescaling(2.0), keras.layers.Dense(3)])
    info = export_tflite(model, tmp_path / "m.tflite", quantization="int8",
                         representative_data=rng.normal(size=(40, 6)).astype("float32"))
    profile = profile_tflite({"m": info["path"]}, rng.normal(size=(1, 6)), max_seconds=0.05)["m"]
    assert profile["float_ops"] == ["MUL"] and profile["ops"]["MUL"] == 1 and "speedup" not in profile
    # Input and MUL output (6 float32 each), QUANTIZE and RESHAPE (6 int8 each), CONV_2D and RESHAPE
    # (3 int8 each), DEQUANTIZE (3 float32): every op output at batch 1, summed.
    assert profile["activation_bytes"] == 4 * 6 * 2 + 6 * 2 + 3 * 2 + 4 * 3


def test_validate_refuses_min_speedup_without_a_float_file_to_compare_with(tmp_path, capsys):
    path = tmp_path / "recipe.yaml"
    path.write_text("name: tiny\ndata: {source: digits}\nmodel: {architecture: mlp, units: [8]}\n"
                    "export: {tflite: {min_speedup: 2}}\n")
    assert main(["validate", str(path)]) == 2
    err = capsys.readouterr().err
    assert "export.tflite.min_speedup: 2.0 compares model.tflite with model_float.tflite" in err
    assert "received quantization: none and no compression" in err and "Traceback" not in err
