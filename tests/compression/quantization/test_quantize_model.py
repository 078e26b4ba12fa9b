"""quantize_model: which layers get wrapped, where inputs are quantized, weights and zeros kept."""

import keras
import numpy as np
import pytest

from kerasopt.compression.quantization import QuantizeWrapper, calibrate_ranges, quantize_model


def _model():
    inputs = keras.Input((8,))
    x = keras.layers.Normalization(mean=np.full(8, 100.0), variance=np.full(8, 400.0), name="norm")(inputs)
    x = keras.layers.Dense(16, activation="relu", name="d1")(x)
    x = keras.layers.Dropout(0.2, name="drop")(x)
    a = keras.layers.Dense(16, activation="relu", name="d2")(x)
    b = keras.layers.Dense(16, name="d3")(x)
    x = keras.layers.Add(name="add")([a, b])
    x = keras.layers.LayerNormalization(name="ln")(x)
    outputs = keras.layers.Dense(3, activation="softmax", name="head")(x)
    return keras.Model(inputs, outputs)


def test_wraps_supported_layers_and_quantizes_inputs_only_where_needed():
    model = _model()
    qat = quantize_model(model)
    wrapped = {layer.layer.name: layer.quantize_inputs for layer in qat.layers if isinstance(layer, QuantizeWrapper)}
    # d1 reads the Normalization's output (not the raw input); d2/d3 read d1 through Dropout;
    # the head reads a float LayerNormalization.
    assert wrapped == {"d1": True, "d2": False, "d3": False, "head": True}
    assert [type(layer).__name__ for layer in qat.layers if layer.name in ("norm", "add", "ln")] == [
        "Normalization", "Add", "LayerNormalization"]
    assert qat is not model and not any(isinstance(layer, QuantizeWrapper) for layer in model.layers)


def test_weights_copied_and_calibrated_model_predicts_like_the_float_one():
    model = _model()
    rng = np.random.default_rng(0)
    x = (100 + 20 * rng.normal(size=(64, 8))).astype("float32")
    qat = quantize_model(model)
    d1 = next(layer for layer in qat.layers if getattr(layer, "layer", None) is not None and layer.layer.name == "d1")
    np.testing.assert_array_equal(d1.layer.kernel.numpy(), model.get_layer("d1").kernel.numpy())
    assert calibrate_ranges(qat, x, batch_size=16) == 4
    assert float(d1.input_min.numpy()) > -6 and float(d1.input_max.numpy()) < 6  # normalized, not raw (~160)
    # 8-bit ranges over 5 quantized tensors: measured max difference 0.033 on these probabilities.
    np.testing.assert_allclose(qat.predict(x, verbose=0), model.predict(x, verbose=0), atol=0.06)


def test_layer_and_type_selection():
    model = _model()
    named = quantize_model(model, layers=["d2", "head"])
    assert sorted(layer.layer.name for layer in named.layers if isinstance(layer, QuantizeWrapper)) == ["d2", "head"]
    # d2 alone: its producer d1 is float now, so it quantizes its own input.
    assert next(layer for layer in named.layers if isinstance(layer, QuantizeWrapper)).quantize_inputs
    typed = quantize_model(model, layer_types=[keras.layers.Dense])
    assert sum(isinstance(layer, QuantizeWrapper) for layer in typed.layers) == 4


@pytest.mark.parametrize("kwargs,match", [
    ({"layers": ["ln"]}, "Layer 'ln' is a LayerNormalization.*Supported layer types: Conv1D, Conv2D, Dense, "
                         "DepthwiseConv1D, DepthwiseConv2D"),
    ({"layers": ["nope"]}, "`layers` pattern 'nope' matches no layer. The model's layers: "),
    ({"layer_types": ["LSTM"]}, r"layer_types.*Dense, Conv1D, Conv2D, DepthwiseConv1D, DepthwiseConv2D.*Received: layer_types=\['LSTM'\]"),
    ({"layers": "d1"}, "`layers` must be None or a non-empty list"),
    ({"ema_decay": 0}, "ema_decay.*Received: ema_decay=0"),
    ({"fold_batch_norm": 1}, "fold_batch_norm"),
])
def test_bad_arguments(kwargs, match):
    with pytest.raises(ValueError, match=match):
        quantize_model(_model(), **kwargs)


def test_refuses_quantizing_twice():
    with pytest.raises(ValueError, match="already quantization-aware.*quantize_d1"):
        quantize_model(quantize_model(_model()))


def test_nested_sequential_is_quantized():
    inner = keras.Sequential([keras.Input((4,)), keras.layers.Dense(4, activation="relu", name="inner_dense")],
                             name="inner")
    inputs = keras.Input((4,))
    model = keras.Model(inputs, keras.layers.Dense(2, name="out")(inner(inputs)))
    qat = quantize_model(model)
    nested = qat.get_layer("inner")
    assert isinstance(nested.layers[0], QuantizeWrapper) and nested.layers[0].quantize_inputs
    x = np.random.default_rng(1).normal(size=(4, 4)).astype("float32")
    calibrate_ranges(qat, x)
    np.testing.assert_allclose(qat.predict(x, verbose=0), model.predict(x, verbose=0), atol=0.05)


@pytest.mark.slow
def test_pruned_zeros_stay_exactly_zero_through_adam_fine_tuning():
    keras.utils.set_random_seed(0)
    rng = np.random.default_rng(0)
    model = keras.Sequential([keras.Input((10,)), keras.layers.Dense(12, activation="relu", name="hidden"),
                              keras.layers.Dense(3, name="out")])
    for layer in model.layers:
        kernel = layer.kernel.numpy()
        kernel[rng.random(kernel.shape) < 0.6] = 0
        layer.kernel.assign(kernel)
    zeros = {layer.name: layer.kernel.numpy() == 0 for layer in model.layers}
    x = rng.normal(size=(128, 10)).astype("float32")
    y = x[:, :3].argmax(axis=1)
    qat = quantize_model(model)
    qat.compile(keras.optimizers.Adam(0.05), "sparse_categorical_crossentropy")
    qat.fit(x, y, epochs=2, batch_size=16, verbose=0)
    for wrapper in qat.layers:
        kernel = wrapper.layer.kernel.numpy()
        assert np.all(kernel[zeros[wrapper.layer.name]] == 0)
        assert np.mean(kernel[~zeros[wrapper.layer.name]] != model.get_layer(wrapper.layer.name).kernel.numpy()[
            ~zeros[wrapper.layer.name]]) > 0.5  # the others trained (dead ReLU units get no gradient)
    unmasked = quantize_model(model, preserve_sparsity=False)
    unmasked.compile(keras.optimizers.Adam(0.05), "sparse_categorical_crossentropy")
    unmasked.fit(x, y, epochs=1, batch_size=16, verbose=0)
    assert np.count_nonzero(unmasked.layers[0].layer.kernel.numpy()) > np.count_nonzero(~zeros["hidden"])


def test_defaults_fold_the_batch_norms_of_a_functional_conv_bn_relu_model():
    """Issue 19 item 7: with the default fold_batch_norm=True this raised
    "TypeError: got an unexpected keyword argument 'mask'" inside keras.models.clone_model."""
    from kerasopt.compression.quantization import fold_batch_norms

    inputs = keras.Input((6, 6, 2))
    x = keras.layers.Conv2D(4, 3, use_bias=False, name="conv")(inputs)
    x = keras.layers.ReLU(name="relu1")(keras.layers.BatchNormalization(name="bn1")(x))
    x = keras.layers.Dense(5, name="dense")(keras.layers.Flatten(name="flat")(x))
    x = keras.layers.ReLU(name="relu2")(keras.layers.BatchNormalization(name="bn2")(x))
    model = keras.Model(inputs, keras.layers.Dense(3, activation="softmax", name="head")(x))
    rng = np.random.default_rng(0)
    for name in ("bn1", "bn2"):
        n = model.get_layer(name).gamma.shape[0]
        model.get_layer(name).set_weights([rng.uniform(0.5, 2, n), rng.normal(size=n), 0.3 * rng.normal(size=n),
                                           rng.uniform(0.2, 2, n)])
    qat = quantize_model(model)
    kinds = {layer.name: type(layer).__name__ for layer in qat.layers}
    assert [kinds[n] for n in ("bn1", "relu1", "flat", "bn2", "relu2")] == [
        "Identity", "ReLU", "Flatten", "Identity", "ReLU"]
    wrappers = {layer.layer.name: layer for layer in qat.layers if isinstance(layer, QuantizeWrapper)}
    assert sorted(wrappers) == ["conv", "dense", "head"]
    folded = fold_batch_norms(model)
    for name, wrapper in wrappers.items():  # the wrappers hold the folded weights
        np.testing.assert_array_equal(wrapper.layer.kernel.numpy(), folded.get_layer(name).kernel.numpy())
    x = rng.normal(size=(64, 6, 6, 2)).astype("float32")
    calibrate_ranges(qat, x)
    # int8 simulation of the float model: measured max difference 0.023 on these probabilities.
    np.testing.assert_allclose(qat(x, training=False), model(x, training=False), atol=0.05)
