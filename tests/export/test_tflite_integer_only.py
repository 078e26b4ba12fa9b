"""Fully integer int8 files of a residual model: ADD, RELU and MEAN in int8, no DEQUANTIZE inside."""

from __future__ import annotations

import keras
import numpy as np
import pytest

from kerasopt.compression.quantization import calibrate_ranges, quantize_model
from kerasopt.export.tflite import export_tflite
from kerasopt.export.tflite_profile import describe_tflite
from kerasopt.export.tflite_verify import verify_tflite


@pytest.fixture(scope="module")
def residual():
    """Conv2D+BN+ReLU, a second Conv2D+BN added to it, GlobalAveragePooling2D, Dense: trained a little."""
    rng = np.random.default_rng(0)
    y = rng.integers(0, 3, 240)
    x = (rng.normal(size=(240, 6, 6, 1)) + (y - 1.0)[:, None, None, None]).astype("float32")
    keras.utils.set_random_seed(0)
    inputs = keras.Input((6, 6, 1))
    h = keras.layers.Conv2D(8, 3, padding="same", use_bias=False, name="conv1")(inputs)
    h = keras.layers.Activation("relu", name="relu1")(keras.layers.BatchNormalization(momentum=0.8, name="bn1")(h))
    r = keras.layers.Conv2D(8, 3, padding="same", use_bias=False, name="conv2")(h)
    h = keras.layers.Add(name="add")([h, keras.layers.BatchNormalization(momentum=0.8, name="bn2")(r)])
    h = keras.layers.GlobalAveragePooling2D(name="pool")(h)
    model = keras.Model(inputs, keras.layers.Dense(3, activation="softmax", name="head")(h))
    model.compile(keras.optimizers.Adam(0.02), "sparse_categorical_crossentropy", metrics=["accuracy"])
    model.fit(x, y, epochs=6, batch_size=32, verbose=0)
    return model, x, y


def _add_output_scale(path):
    from ai_edge_litert.interpreter import Interpreter

    lite = Interpreter(model_path=str(path))
    tensors = {t["index"]: t for t in lite.get_tensor_details()}
    (add,) = [op for op in lite._get_ops_details() if op["op_name"] == "ADD"]
    return tensors[int(add["outputs"][0])]["quantization"][0]


def _check_integer_file(info, reference, x, y, add_range):
    profile = describe_tflite(info["path"])
    assert profile["float_ops"] == []
    assert "DEQUANTIZE" not in profile["ops"] and {"ADD", "MEAN"} <= set(profile["ops"])
    report = verify_tflite(info["path"], x, y, keras_outputs=reference.predict(x, verbose=0))
    keras_accuracy = float(np.mean(reference.predict(x, verbose=0).argmax(axis=1) == y))
    assert keras_accuracy > 0.8
    assert abs(report["accuracy"] - keras_accuracy) <= 0.03
    low, high = add_range
    assert _add_output_scale(info["path"]) == pytest.approx((high - low) / 255, rel=1e-5)


def test_calibrated_export_of_a_residual_model_is_integer_only(residual, tmp_path):
    model, x, y = residual
    info = export_tflite(model, tmp_path / "m.tflite", quantization="int8", representative_data=x,
                         num_representative=len(x), io="int8")
    assert info["int8_ranges"] == "calibrated"
    # The export's calibration, repeated: all samples in order, so the same running min/max.
    observed = quantize_model(model, preserve_sparsity=False)
    calibrate_ranges(observed, x)
    quantizer = observed.get_layer("add_quantize")
    _check_integer_file(info, model, x, y, (float(quantizer.output_min.numpy()), float(quantizer.output_max.numpy())))


def test_qat_export_of_a_residual_model_is_integer_only(residual, tmp_path):
    model, x, y = residual
    qat = quantize_model(model)
    qat.compile(keras.optimizers.Adam(0.002), "sparse_categorical_crossentropy")
    qat.fit(x, y, epochs=1, batch_size=32, verbose=0)
    assert [type(qat.get_layer(n)).__name__ for n in ("add_quantize", "pool_quantize", "relu1_quantize")] == [
        "ActivationQuantizer"] * 3
    info = export_tflite(qat, tmp_path / "qat.tflite", quantization="int8", io="int8")
    assert info["int8_ranges"] == "trained"
    quantizer = qat.get_layer("add_quantize")
    _check_integer_file(info, qat, x, y, (float(quantizer.output_min.numpy()), float(quantizer.output_max.numpy())))


def test_a_resnet_with_stochastic_depth_exports_integer_only(tmp_path):
    # The drop-path layer before each Add is the identity at inference: the Add's inputs are
    # int8, so the Add gets a range and runs in int8 as it does without stochastic depth.
    from kerasopt.models import build_model

    model = build_model({"architecture": "resnet", "filters": 4, "blocks_per_stage": [1, 1],
                         "stochastic_depth": 0.3}, input_shape=(8, 8, 1), num_classes=3)
    x = np.random.default_rng(0).normal(size=(64, 8, 8, 1)).astype("float32")
    info = export_tflite(model, tmp_path / "m.tflite", quantization="int8", representative_data=x, io="int8")
    profile = describe_tflite(info["path"])
    assert profile["float_ops"] == [] and profile["ops"]["ADD"] == 2
    assert [type(layer).__name__ for layer in quantize_model(model).layers].count("ActivationQuantizer") >= 2
    report = verify_tflite(info["path"], x, np.zeros(64, "int64"), keras_outputs=model.predict(x, verbose=0))
    assert report["agreement"] >= 0.9


def test_resnet1d_with_its_identity_shortcut_batch_norm_exports_integer_only(tmp_path):
    # The last block's shortcut is a batch norm alone (channels unchanged): it runs as an int8
    # DEPTHWISE_CONV_2D, so the ADD, RELU and MEAN after it are int8 too.
    from kerasopt.models import build_model

    keras.utils.set_random_seed(0)
    model = build_model({"architecture": "resnet1d", "filters": [4, 8, 8]}, input_shape=(24, 1), num_classes=3)
    rng = np.random.default_rng(0)
    for layer in model.layers:
        if isinstance(layer, keras.layers.BatchNormalization):
            n = layer.gamma.shape[0]
            layer.set_weights([rng.uniform(0.5, 2, n), rng.normal(0, 0.3, n), rng.normal(0, 0.3, n),
                               rng.uniform(0.5, 2, n)])
    x = rng.normal(size=(128, 24, 1)).astype("float32")
    info = export_tflite(model, tmp_path / "r.tflite", quantization="int8", representative_data=x, io="int8")
    profile = describe_tflite(info["path"])
    assert profile["float_ops"] == [] and profile["ops"]["DEPTHWISE_CONV_2D"] == 1
    assert "DEQUANTIZE" not in profile["ops"] and "MUL" not in profile["ops"]
    reference = model.predict(x, verbose=0)
    report = verify_tflite(info["path"], x, reference.argmax(axis=1), keras_outputs=reference)
    assert report["agreement"] >= 0.95 and report["max_abs_diff"] < 0.1


def test_quantizers_go_between_quantized_layers_only():
    from kerasopt.compression.quantization import QuantizeWrapper

    inputs = keras.Input((4,), name="x")
    h = keras.layers.Rescaling(0.5, name="scale")(inputs)
    h = keras.layers.Activation("relu", name="raw_relu")(h)  # on the float input: stays float
    h = keras.layers.Activation("relu", name="relu")(keras.layers.Dense(8, name="d1")(h))
    h = keras.layers.Dense(3, name="d2")(h)
    model = keras.Model(inputs, keras.layers.Softmax(name="probs")(h))
    qat = quantize_model(model)
    assert [layer.name for layer in qat.layers] == [
        "x", "scale", "raw_relu", "quantize_d1", "relu", "relu_quantize", "quantize_d2", "probs"]  # no probs_quantize:
    # the softmax giving the output stays unrounded (distillation reads its probabilities)
    flags = {layer.layer.name: layer.quantize_inputs for layer in qat.layers if isinstance(layer, QuantizeWrapper)}
    assert flags == {"d1": True, "d2": False}  # d2 reads the quantizer's int8 output


def test_a_model_ending_in_a_relu_or_add_layer_gets_its_output_range():
    # The output check for a softmax once read `activation` off every ranged layer: a ReLU or
    # Add layer giving the model's output has none.
    inputs = keras.Input((4,))
    h = keras.layers.Dense(3, name="d1")(inputs)
    out = keras.layers.ReLU(name="out")(keras.layers.Add(name="add")([h, keras.layers.Dense(3, name="d2")(h)]))
    qat = quantize_model(keras.Model(inputs, out))
    assert [layer.name for layer in qat.layers][-4:] == ["add", "add_quantize", "out", "out_quantize"]
