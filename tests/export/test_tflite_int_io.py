"""Integer-only TFLite files (issue 22, item 1): int8/uint8 input and output, verified as declared."""

from __future__ import annotations

import keras
import numpy as np
import pytest

from kerasopt.cli import main
from kerasopt.export.errors import ExportError
from kerasopt.export.tflite import export_tflite
from kerasopt.export.tflite_verify import verify_tflite


@pytest.fixture(scope="module")
def trained():
    rng = np.random.default_rng(0)
    x = rng.normal(size=(300, 12)).astype("float32")
    y = x[:, :4].argmax(axis=1)
    keras.utils.set_random_seed(0)
    model = keras.Sequential([keras.Input((12,)), keras.layers.Dense(32, activation="relu"),
                              keras.layers.Dense(4, activation="softmax")])
    model.compile(keras.optimizers.Adam(0.01), "sparse_categorical_crossentropy")
    model.fit(x, y, epochs=8, batch_size=32, verbose=0)
    return model, x, y


@pytest.mark.parametrize("io", ["int8", "uint8"])
def test_integer_io_file_is_verified_through_its_own_scale_and_zero_point(trained, tmp_path, io):
    from ai_edge_litert.interpreter import Interpreter

    model, x, y = trained
    info = export_tflite(model, tmp_path / "m.tflite", quantization="int8", representative_data=x, io=io)
    assert info["io"] == io
    lite = Interpreter(model_path=info["path"])
    source, target = lite.get_input_details()[0], lite.get_output_details()[0]
    assert source["dtype"] == np.dtype(io) and target["dtype"] == np.dtype(io)
    report = verify_tflite(info["path"], x, y, keras_outputs=model.predict(x, verbose=0))

    # NumPy re-derivation: quantize with the file's input scale/zero point, invoke, dequantize.
    (in_scale, in_zero), (out_scale, out_zero) = source["quantization"], target["quantization"]
    limits = np.iinfo(io)
    lite.resize_tensor_input(source["index"], [len(x), 12])
    lite.allocate_tensors()
    lite.set_tensor(source["index"], np.clip(np.round(x / in_scale + in_zero), limits.min, limits.max).astype(io))
    lite.invoke()
    outputs = (lite.get_tensor(target["index"]).astype("float32") - out_zero) * out_scale
    assert report["accuracy"] == pytest.approx(np.mean(outputs.argmax(axis=1) == y))
    assert report["accuracy"] > 0.8
    assert report["max_abs_diff"] < 0.1  # softmax probabilities within a few output steps


def test_integer_io_with_a_float_first_layer_is_refused_without_a_file(tmp_path):
    rng = np.random.default_rng(1)
    model = keras.Sequential([keras.Input((6,)), keras.layers.Rescaling(2.0), keras.layers.Dense(3)])
    with pytest.raises(ExportError, match=r"io='int8': the converted file is not integer-only: input .* float32"):
        export_tflite(model, tmp_path / "m.tflite", quantization="int8",
                      representative_data=rng.normal(size=(40, 6)).astype("float32"), io="int8")
    assert list(tmp_path.iterdir()) == []


def test_integer_io_needs_int8_in_python(tmp_path):
    model = keras.Sequential([keras.Input((3,)), keras.layers.Dense(2)])
    with pytest.raises(ExportError, match=r"`io='int8'` .* needs quantization='int8'.*'dynamic'"):
        export_tflite(model, tmp_path / "m.tflite", quantization="dynamic", io="int8")


def test_validate_refuses_dynamic_quantization_with_int8_io(tmp_path, capsys):
    path = tmp_path / "recipe.yaml"
    path.write_text("name: tiny\ndata: {source: digits}\nmodel: {architecture: mlp, units: [8]}\n"
                    "export: {tflite: {quantization: dynamic, io: int8}}\n")
    assert main(["validate", str(path)]) == 2
    err = capsys.readouterr().err
    assert "export.tflite: io: int8" in err and "received quantization: dynamic" in err
    assert "Allowed with quantization dynamic: io: float32" in err and "Traceback" not in err


def test_validate_refuses_integer_io_behind_a_normalization_layer(tmp_path, capsys):
    # Found only after training before; now exit 2 at validate, naming both keys.
    path = tmp_path / "recipe.yaml"
    path.write_text("name: tiny\ndata: {source: digits, normalization: standardize}\n"
                    "model: {architecture: mlp, units: [8]}\n"
                    "export: {tflite: {quantization: int8, io: uint8}}\n")
    assert main(["validate", str(path)]) == 2
    err = capsys.readouterr().err
    assert "export.tflite.io: uint8" in err and "data.normalization: standardize" in err, err
    assert "Allowed: data.normalization: none" in err and "Traceback" not in err
    path.write_text(path.read_text().replace("standardize", "none"))
    assert main(["validate", str(path)]) == 0
