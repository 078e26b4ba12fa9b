"""Full-int8 TFLite files from QAT models, post-training modes, the wide-range tabular regression, errors."""

import keras
import numpy as np
import pytest

from kerasopt.compression.quantization import quantize_model
from kerasopt.export.errors import ExportError
from kerasopt.export.tflite import converter_options, export_tflite
from kerasopt.export.tflite_verify import run_tflite, verify_tflite


def _ops(path):
    """(op name, input dtypes) of every op; `_get_ops_details` is LiteRT's only op listing."""
    from ai_edge_litert.interpreter import Interpreter

    lite = Interpreter(model_path=str(path))
    tensors = {t["index"]: t for t in lite.get_tensor_details()}
    return lite, [(op["op_name"], [tensors[i]["dtype"] for i in op["inputs"] if i >= 0])
                  for op in lite._get_ops_details()]


VARIANTS = {
    "dense": ((16,), lambda: [keras.layers.Dense(24, activation="relu")], 24),
    "conv1d": ((16, 2), lambda: [keras.layers.Conv1D(8, 3, activation="relu"), keras.layers.MaxPooling1D(),
                                 keras.layers.Flatten()], 8),
    "conv2d": ((8, 8, 1), lambda: [keras.layers.Conv2D(8, 3, activation="relu"), keras.layers.MaxPooling2D(),
                                   keras.layers.Flatten()], 8),
    "depthwise": ((8, 8, 3), lambda: [keras.layers.DepthwiseConv2D(3, depth_multiplier=2, activation="relu"),
                                      keras.layers.Flatten()], 6),
}


@pytest.mark.slow
@pytest.mark.parametrize("kind", sorted(VARIANTS))
def test_qat_model_exports_full_int8_matching_keras(kind, tmp_path):
    shape, body, channels = VARIANTS[kind]
    rng = np.random.default_rng(0)
    x = rng.normal(size=(512, *shape)).astype("float32")
    y = x.reshape(len(x), -1)[:, :4].argmax(axis=1)
    keras.utils.set_random_seed(0)
    model = keras.Sequential([keras.Input(shape), *body(), keras.layers.Dense(4, activation="softmax")])
    model.compile(keras.optimizers.Adam(0.01), "sparse_categorical_crossentropy")
    model.fit(x, y, epochs=3, batch_size=32, verbose=0)
    qat = quantize_model(model)
    qat.compile(keras.optimizers.Adam(0.001), "sparse_categorical_crossentropy", metrics=["accuracy"])
    qat.fit(x, y, epochs=1, batch_size=32, verbose=0)
    info = export_tflite(qat, tmp_path / "qat.tflite", quantization="int8", representative_data=x)
    assert info["int8_ranges"] == "trained"
    lite, ops = _ops(info["path"])
    assert lite.get_input_details()[0]["dtype"] == np.float32 and lite.get_output_details()[0]["dtype"] == np.float32
    names = [name for name, _ in ops]
    assert names[0] == "QUANTIZE" and names[-1] == "DEQUANTIZE"
    assert ("DEPTHWISE_CONV_2D" if kind == "depthwise" else "CONV_2D") in names
    # Full int8: only the first QUANTIZE reads float.
    assert [name for name, dtypes in ops if np.float32 in dtypes] == ["QUANTIZE"]
    weights = [t for t in lite.get_tensor_details() if t["dtype"] == np.int8 and len(t["shape"]) == 4
               and len(t["quantization_parameters"]["scales"]) > 1]
    assert sorted(len(t["quantization_parameters"]["scales"]) for t in weights) == sorted([channels, 4])
    assert all(np.all(t["quantization_parameters"]["zero_points"] == 0) for t in weights)  # symmetric
    reference = qat.predict(x, verbose=0)
    report = verify_tflite(info["path"], x, y, keras_outputs=reference)
    # Measured: agreement 1.0 and max_abs_diff about 0.004-0.02 (one or a few int8 steps).
    assert report["agreement"] >= 0.99
    assert report["max_abs_diff"] < 0.05
    assert report["accuracy"] == pytest.approx(np.mean(reference.argmax(axis=1) == y), abs=0.01)


def test_qat_model_export_refusals(tmp_path):
    model = keras.Sequential([keras.Input((4,)), keras.layers.Dense(2)])
    qat = quantize_model(model)
    with pytest.raises(ExportError, match="ranges of quantize_dense.* were never learned"):
        export_tflite(qat, tmp_path / "a.tflite", quantization="int8")
    with pytest.raises(ExportError, match="quantization='int8'.*or 'none'.*Received: quantization='dynamic'"):
        export_tflite(qat, tmp_path / "b.tflite", quantization="dynamic")
    with pytest.raises(ExportError, match="quantization_aware=True.*int8"):
        converter_options("float16", quantization_aware=True)
    assert list(tmp_path.iterdir()) == []


@pytest.mark.slow
def test_post_training_modes_convert_and_run(tmp_path):
    rng = np.random.default_rng(1)
    x = rng.normal(size=(200, 10)).astype("float32")
    keras.utils.set_random_seed(1)
    model = keras.Sequential([keras.Input((10,)), keras.layers.Dense(128, activation="relu"),  # > 1024 weights: dynamic quantizes it
                              keras.layers.Dense(3, activation="softmax")])
    reference = model.predict(x, verbose=0)
    kinds = {"none": np.float32, "dynamic": np.int8, "float16": np.float16, "int8": np.int8, "int16x8": np.int16}
    for mode, dtype in kinds.items():
        info = export_tflite(model, tmp_path / f"{mode}.tflite", quantization=mode, representative_data=x)
        lite, _ = _ops(info["path"])
        assert dtype in {t["dtype"] for t in lite.get_tensor_details()}, mode
        report = verify_tflite(info["path"], x, keras_outputs=reference)
        assert report["agreement"] >= 0.95 and report["max_abs_diff"] < 0.05, (mode, report)
    assert export_tflite(model, tmp_path / "again.tflite", quantization="int8",
                         representative_data=x)["int8_ranges"] == "calibrated"


@pytest.mark.slow
def test_int8_of_normalized_wide_range_tabular_model_keeps_accuracy(tmp_path):
    """Regression: breast-cancer MLP with Normalization inside; int8 predicted the majority class for all.

    The converter's own full-int8 calibration quantizes the raw input (features from ~0.1 to
    ~2500) with one scale, which erases the small features: 0.63 accuracy against Keras's 0.97.
    """
    from sklearn.datasets import load_breast_cancer
    from sklearn.model_selection import train_test_split

    features, labels = load_breast_cancer(return_X_y=True)
    x_train, x_test, y_train, y_test = train_test_split(features.astype("float32"), labels, test_size=0.3,
                                                        random_state=0, stratify=labels)
    keras.utils.set_random_seed(0)
    normalizer = keras.layers.Normalization()
    normalizer.adapt(x_train)
    model = keras.Sequential([keras.Input((30,)), normalizer, keras.layers.Dense(32, activation="relu"),
                              keras.layers.Dense(16, activation="relu"), keras.layers.Dense(2, activation="softmax")])
    model.compile(keras.optimizers.Adam(0.01), "sparse_categorical_crossentropy")
    model.fit(x_train, y_train, epochs=10, batch_size=32, verbose=0)
    reference = model.predict(x_test, verbose=0)
    keras_accuracy = np.mean(reference.argmax(axis=1) == y_test)
    info = export_tflite(model, tmp_path / "int8.tflite", quantization="int8", representative_data=x_train)
    report = verify_tflite(info["path"], x_test, y_test, keras_outputs=reference)
    assert keras_accuracy > 0.9
    assert report["accuracy"] >= keras_accuracy - 0.02  # measured: equal (0.95 / 0.95)
    # The same data through the converter's calibration alone: the silent failure this guards.
    model.export(str(tmp_path / "raw.tflite"), format="litert", verbose=False,
                 **converter_options("int8", x_train))
    assert verify_tflite(tmp_path / "raw.tflite", x_test, y_test)["accuracy"] < 0.75


@pytest.mark.slow
@pytest.mark.parametrize("recurrent", ["LSTM", "GRU"])
def test_recurrent_layer_fails_naming_it_and_the_fix(recurrent, tmp_path):
    inputs = keras.Input((5, 3))
    layer = getattr(keras.layers, recurrent)(4, name=f"my_{recurrent.lower()}")
    model = keras.Model(inputs, keras.layers.Dense(2)(layer(inputs)))
    with pytest.raises(ExportError) as caught:
        export_tflite(model, tmp_path / "rnn.tflite")
    message = str(caught.value)
    assert f"my_{recurrent.lower()} ({recurrent})" in message and "unroll=True" in message
    assert "TensorListReserve" in message and "SavedModel" in message and len(message) < 600
    assert list(tmp_path.iterdir()) == []
    unrolled = keras.Model(inputs, keras.layers.Dense(2)(getattr(keras.layers, recurrent)(4, unroll=True)(inputs)))
    path = export_tflite(unrolled, tmp_path / "unrolled.tflite")["path"]
    x = np.random.default_rng(0).normal(size=(3, 5, 3)).astype("float32")
    np.testing.assert_allclose(run_tflite(path, x), unrolled.predict(x, verbose=0), atol=1e-5)
