"""Tests of export_onnx / verify_onnx (onnxruntime) and of `export.onnx` in a recipe run."""

import json
import signal
import sys
from pathlib import Path

import keras
import numpy as np
import pytest
import tensorflow as tf
import yaml

from kerasopt.cli import main
from kerasopt.export import ExportError, export_onnx, verify_onnx
from kerasopt.export.onnx_verify import run_onnx
from tests.subprocesses import finish, start_python
from tests.tiny_recipe import write_tiny_recipe

ENV = {"TF_CPP_MIN_LOG_LEVEL": "3", "TF_ENABLE_ONEDNN_OPTS": "0"}


@pytest.fixture(scope="module")
def conv_model():
    """A tiny Conv1D + Dense classifier, built from keras.Input and never called (Keras refuses those)."""
    keras.utils.set_random_seed(0)
    return keras.Sequential([keras.Input((16, 2)), keras.layers.Conv1D(4, 3, activation="relu"),
                             keras.layers.Flatten(), keras.layers.Dense(3, activation="softmax")])


def test_the_file_runs_in_onnxruntime_and_matches_keras(conv_model, tmp_path):
    rng = np.random.default_rng(1)
    x = rng.normal(size=(50, 16, 2)).astype("float32")
    y = rng.integers(0, 3, size=50)
    info = export_onnx(conv_model, tmp_path / "m.onnx")
    assert info["bytes"] == (tmp_path / "m.onnx").stat().st_size > 0
    assert info["opset"] >= 13
    reference = conv_model.predict(x, verbose=0)
    out = run_onnx(tmp_path / "m.onnx", x, batch_size=16)  # 4 batches, the last one of 2
    assert out.shape == (50, 3)
    np.testing.assert_allclose(out, reference, atol=1e-5)
    report = verify_onnx(tmp_path / "m.onnx", x, y, keras_outputs=reference)
    assert report["max_abs_diff"] < 1e-5 and report["agreement"] == 1.0 and report["samples"] == 50
    assert report["accuracy"] == pytest.approx(np.mean(reference.argmax(axis=1) == y))
    assert sorted(p.name for p in tmp_path.iterdir()) == ["m.onnx"]


class Singular(keras.layers.Layer):
    """Singular values: TensorFlow's Svd op, which tf2onnx cannot convert."""

    def call(self, inputs):
        return tf.linalg.svd(inputs, compute_uv=False)


def test_an_unconvertible_layer_is_named_and_leaves_no_file(tmp_path):
    inputs = keras.Input((4, 4))
    outputs = keras.layers.Dense(2)(keras.layers.Flatten()(Singular(name="singular")(inputs)))
    with pytest.raises(ExportError) as caught:
        export_onnx(keras.Model(inputs, outputs), tmp_path / "m.onnx")
    message = str(caught.value)
    assert "\n" not in message and "Svd in layer singular (Singular)" in message
    assert list(tmp_path.iterdir()) == []  # not even the temporary


def test_bad_arguments(conv_model, tmp_path):
    with pytest.raises(ExportError, match=r"must end in \.onnx"):
        export_onnx(conv_model, tmp_path / "m.tflite")
    with pytest.raises(ExportError, match="not a file"):
        verify_onnx(tmp_path / "missing.onnx", np.zeros((1, 16, 2)))


def test_onnx_without_its_packages_is_exit_2_at_validate(tmp_path, monkeypatch, capsys):
    path = write_tiny_recipe(tmp_path, export={"keras": False, "onnx": True})
    assert main(["validate", path]) == 0, capsys.readouterr().err
    monkeypatch.setitem(sys.modules, "tf2onnx", None)  # find_spec then reports it missing
    capsys.readouterr()
    assert main(["validate", path]) == 2
    err = capsys.readouterr().err
    assert "export.onnx" in err and "tf2onnx" in err and "kerasopt[onnx]" in err and "Traceback" not in err


def test_a_killed_onnx_write_leaves_no_file_and_resume_writes_the_verified_file(tmp_path, capsys):
    """SIGKILL when model.onnx is complete under its temporary name; --resume exports and verifies it."""
    path = write_tiny_recipe(tmp_path, export={"keras": False, "onnx": True})
    out = tmp_path / "run"
    args = ["run", path, "--output-dir", str(out)]
    killed = finish(start_python("-m", "kerasopt.cli", *args,
                                 env={**ENV, "KERASOPT_FAULT": "SIGKILL:model.onnx"}))
    assert killed.returncode == -signal.SIGKILL, killed.stderr
    assert not (out / "model.onnx").exists()
    assert [p.name for p in out.glob(".model.onnx.*")]  # the complete temporary, never renamed
    assert json.loads((out / "metrics.json").read_text())["exports"] == {}

    assert main([*args, "--resume"]) == 0, capsys.readouterr().err
    assert not list(out.glob(".model.onnx.*"))
    info = json.loads((out / "metrics.json").read_text())["exports"]["onnx"]
    assert info["path"] == "model.onnx" and info["bytes"] == (out / "model.onnx").stat().st_size
    assert info["max_abs_diff"] < 1e-5 and info["samples"] == 60  # 240 samples, test_split 0.25
    assert info["accuracy"] == pytest.approx(info["keras_accuracy"])


def test_a_run_whose_model_does_not_convert_exits_1_with_one_line(tmp_path, capsys):
    """MelSpectrogram's RFFT has no ONNX conversion in tf2onnx: exit 1, the layer named, no model.onnx."""
    layers = [{"type": "MelSpectrogram", "fft_length": 16, "sequence_stride": 8, "num_mel_bins": 4,
               "sampling_rate": 100}, {"type": "Flatten"},
              {"type": "Dense", "units": 3, "activation": "softmax"}]
    path = write_tiny_recipe(tmp_path, data={"input_shape": [64], "normalization": "none"},
                             training={"epochs": 1}, export={"keras": False, "onnx": True})
    recipe = yaml.safe_load(Path(path).read_text())
    Path(path).write_text(yaml.safe_dump({**recipe, "model": {"layers": layers}}))
    out = tmp_path / "run"
    assert main(["run", path, "--output-dir", str(out)]) == 1
    err = capsys.readouterr().err
    assert "RFFT" in err and "layer mel_spectrogram (MelSpectrogram)" in err and "Traceback" not in err
    assert [line for line in err.splitlines() if line.startswith("kerasopt: error:")] == [
        next(line for line in err.splitlines() if "RFFT" in line)]
    assert not list(out.glob("*model.onnx*"))
