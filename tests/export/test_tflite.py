"""Tests of export_tflite and verify_tflite (LiteRT interpreter) on tiny models."""

import gzip
from pathlib import Path

import keras
import numpy as np
import pytest
import tensorflow as tf

from kerasopt.export.errors import ExportError
from kerasopt.export.tflite import converter_options, export_tflite
from kerasopt.export.tflite_verify import run_tflite, verify_tflite
from kerasopt.models.build import build_model


@pytest.fixture(scope="module")
def data():
    rng = np.random.default_rng(0)
    x = rng.normal(size=(400, 64)).astype("float32")
    y = x[:, :10].argmax(axis=1)
    return x, y


@pytest.fixture(scope="module")
def dense_model(data):
    """A Dense-heavy classifier (about 85k weights) trained to high accuracy."""
    x, y = data
    keras.utils.set_random_seed(0)
    model = build_model({"architecture": "mlp", "units": [256, 256]}, input_shape=(64,), num_classes=10)
    model.compile(keras.optimizers.Adam(0.003), "sparse_categorical_crossentropy")
    model.fit(x, y, epochs=12, batch_size=32, verbose=0)
    return model


@pytest.fixture(scope="module")
def exports(dense_model, data, tmp_path_factory):
    x, _ = data
    folder = tmp_path_factory.mktemp("tflite")
    return {mode: export_tflite(dense_model, folder / f"{mode}.tflite", quantization=mode,
                                representative_data=x[:200] if mode == "int8" else None)
            for mode in ("none", "dynamic", "float16", "int8")}


def test_float_tflite_matches_keras(dense_model, data, exports):
    x, y = data
    info = exports["none"]
    reference = dense_model.predict(x, verbose=0)
    report = verify_tflite(info["path"], x, y, keras_outputs=reference, batch_size=128)
    assert report["max_abs_diff"] < 1e-5
    assert report["accuracy"] == pytest.approx(np.mean(reference.argmax(axis=1) == y))
    assert report["accuracy"] > 0.85 and report["samples"] == 400
    raw = Path(info["path"]).read_bytes()
    assert info["bytes"] == len(raw) and info["quantization"] == "none"
    assert info["gzip_bytes"] == len(gzip.compress(raw, compresslevel=9, mtime=0)) < info["bytes"]


def test_quantized_files_are_smaller_and_stay_accurate(dense_model, data, exports):
    x, y = data
    reference = dense_model.predict(x, verbose=0)
    float_bytes = exports["none"]["bytes"]
    float_accuracy = np.mean(reference.argmax(axis=1) == y)
    ratios = {mode: float_bytes / info["bytes"] for mode, info in exports.items()}
    # Measured: dynamic 3.6x, float16 2.0x, int8 3.4x (int8 also stores activation
    # quantization parameters and QUANTIZE/DEQUANTIZE ops at the float edges).
    assert ratios["float16"] == pytest.approx(2.0, abs=0.1)
    assert ratios["dynamic"] > 3.2 and ratios["int8"] > 3.0
    for mode in ("dynamic", "float16", "int8"):
        report = verify_tflite(exports[mode]["path"], x, y, keras_outputs=reference)
        assert exports[mode]["quantization"] == mode
        assert abs(report["accuracy"] - float_accuracy) <= 0.03, mode
        assert report["max_abs_diff"] < (1e-3 if mode == "float16" else 0.1), mode


def test_int8_keeps_float_input_and_output(exports):
    from ai_edge_litert.interpreter import Interpreter

    lite = Interpreter(model_path=exports["int8"]["path"])
    assert lite.get_input_details()[0]["dtype"] == np.float32
    assert lite.get_output_details()[0]["dtype"] == np.float32
    kinds = {d["dtype"] for d in lite.get_tensor_details()}
    assert np.int8 in kinds


def test_run_tflite_handles_int8_input_and_output(dense_model, data, tmp_path):
    x, _ = data
    path = tmp_path / "int8_io.tflite"

    def representative():
        for i in range(100):
            yield [x[i:i + 1]]

    dense_model.export(str(path), format="litert", verbose=False, optimizations=[tf.lite.Optimize.DEFAULT],
                       representative_dataset=representative, inference_input_type=tf.int8,
                       inference_output_type=tf.int8,
                       target_spec={"supported_ops": [tf.lite.OpsSet.TFLITE_BUILTINS_INT8]})
    outputs = run_tflite(path, x[:50], batch_size=16)
    np.testing.assert_allclose(outputs, dense_model.predict(x[:50], verbose=0), atol=0.1)


def test_normalizer_first_model_takes_raw_inputs(tmp_path):
    rng = np.random.default_rng(3)
    raw = (500 + 80 * rng.normal(size=(64, 5))).astype("float32")
    normalizer = keras.layers.Normalization()
    normalizer.adapt(raw)
    model = build_model({"architecture": "mlp", "units": [8]}, input_shape=(5,), num_classes=3,
                        normalizer=normalizer)
    info = export_tflite(model, tmp_path / "norm.tflite")
    reference = model.predict(raw, verbose=0)
    assert verify_tflite(info["path"], raw, keras_outputs=reference)["max_abs_diff"] < 1e-5
    # The raw inputs matter: feeding standardized data gives different outputs.
    standardized = (raw - raw.mean(axis=0)) / raw.std(axis=0)
    assert np.abs(run_tflite(info["path"], standardized) - reference).max() > 1e-2


def test_verify_regression_reports_mse_and_one_hot_labels_work(data, tmp_path):
    x, y = data
    model = build_model({"architecture": "mlp", "units": [4]}, input_shape=(64,), num_classes=None)
    info = export_tflite(model, tmp_path / "reg.tflite")
    target = x[:, 0]
    reference = model.predict(x, verbose=0)
    report = verify_tflite(info["path"], x, target, keras_outputs=reference, task="regression")
    assert report["accuracy"] is None
    assert report["mse"] == pytest.approx(np.mean((reference[:, 0] - target) ** 2), rel=1e-4)
    classifier = build_model({"architecture": "mlp", "units": [4]}, input_shape=(64,), num_classes=10)
    path = export_tflite(classifier, tmp_path / "cls.tflite")["path"]
    one_hot = np.eye(10)[y]
    assert verify_tflite(path, x, one_hot)["accuracy"] == verify_tflite(path, x, y)["accuracy"]


class CumulativeProduct(keras.layers.Layer):
    """A layer whose op (Cumprod) has no TFLite builtin kernel, only a Flex one."""

    def call(self, inputs):
        return keras.ops.cumprod(inputs, axis=-1)


def test_flex_only_op_fails_naming_the_op_and_leaves_no_file(tmp_path):
    inputs = keras.Input((6,))
    model = keras.Model(inputs, keras.layers.Dense(2)(CumulativeProduct()(inputs)))
    with pytest.raises(ExportError, match="Cumprod \\(TensorFlow \\(Flex/select\\)\\)"):
        export_tflite(model, tmp_path / "flex.tflite")
    assert list(tmp_path.iterdir()) == []
    previous = tmp_path / "kept.tflite"
    previous.write_bytes(b"previous export")
    with pytest.raises(ExportError, match="Cumprod"):
        export_tflite(model, previous, quantization="dynamic")
    assert previous.read_bytes() == b"previous export"
    assert [p.name for p in tmp_path.iterdir()] == ["kept.tflite"]


@pytest.mark.parametrize("kwargs,match", [
    ({"quantization": "int4"}, "quantization.*none, dynamic, float16, int8.*int4"),
    ({"quantization": "int8"}, "int8.*needs `representative_data`"),
    ({"quantization": "int8", "representative_data": np.zeros((2, 3)), "num_representative": 0},
     "num_representative"),
])
def test_bad_export_arguments(kwargs, match, tmp_path):
    model = keras.Sequential([keras.Input((3,)), keras.layers.Dense(2)])
    with pytest.raises(ExportError, match=match):
        export_tflite(model, tmp_path / "m.tflite", **kwargs)
    with pytest.raises(ExportError, match="must end in .tflite"):
        export_tflite(model, tmp_path / "m.lite")
    assert list(tmp_path.iterdir()) == []


def test_verify_rejects_bad_inputs(exports, data):
    x, y = data
    with pytest.raises(ExportError, match="samples of shape \\(64,\\).*x.shape=\\(4, 3\\)"):
        verify_tflite(exports["none"]["path"], np.zeros((4, 3)), None)
    with pytest.raises(ExportError, match="task"):
        verify_tflite(exports["none"]["path"], x, y, task="ranking")
    with pytest.raises(ExportError, match="is not a file"):
        verify_tflite("missing.tflite", x, y)


def test_representative_samples_are_drawn_across_the_data():
    sorted_data = np.repeat(np.arange(10, dtype="float32"), 50)[:, None]  # 500 samples sorted by value
    options = converter_options("int8", sorted_data, num_representative=40)
    samples = [batch[0] for batch in options["representative_dataset"]()]
    assert len(samples) == 40 and all(s.shape == (1, 1) for s in samples)
    assert len({float(s[0, 0]) for s in samples}) >= 8  # not the first 40 rows (all 0.0)
    assert [s.tolist() for s in samples] == [batch[0].tolist() for batch in options["representative_dataset"]()]
    assert options["target_spec"]["supported_ops"] == [tf.lite.OpsSet.TFLITE_BUILTINS_INT8]
    assert options["inference_input_type"] == tf.float32 and options["inference_output_type"] == tf.float32


def test_running_a_file_prints_no_delegate_notice_but_keeps_other_errors(exports, data, capfd):
    """LiteRT writes "INFO: Created TensorFlow Lite XNNPACK delegate" to fd 2 on allocation;
    kerasopt drops that line only. A line written to fd 2 during allocation still comes through."""
    import os

    from kerasopt.export import tflite_verify

    x, _ = data
    capfd.readouterr()
    run_tflite(exports["none"]["path"], x[:5])
    assert "XNNPACK" not in capfd.readouterr().err
    with tflite_verify._quiet_delegate_notice():
        os.write(2, b"INFO: Created TensorFlow Lite XNNPACK delegate for CPU.\nreal warning\n")
    assert capfd.readouterr().err == "real warning\n"
