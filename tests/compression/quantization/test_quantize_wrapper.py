"""QuantizeWrapper: each layer type's forward pass re-derived, EMA ranges, refusals, serialization."""

import copy

import keras
import numpy as np
import pytest

from kerasopt.compression.quantization import QuantizeWrapper
from tests.compression.quantization import reference

LAYERS = {
    "dense": (lambda: keras.layers.Dense(5, activation="relu"), (2, 6)),
    "dense_3d": (lambda: keras.layers.Dense(5, activation="tanh"), (2, 3, 6)),
    "conv1d_causal": (lambda: keras.layers.Conv1D(4, 3, padding="causal", dilation_rate=2), (2, 9, 3)),
    "conv1d_strided": (lambda: keras.layers.Conv1D(4, 3, strides=2, activation="relu"), (2, 9, 3)),
    "conv2d": (lambda: keras.layers.Conv2D(4, 3, padding="same", activation="relu6"), (2, 6, 6, 3)),
    "depthwise": (lambda: keras.layers.DepthwiseConv2D(3, depth_multiplier=2, activation="sigmoid"), (2, 6, 6, 3)),
    "depthwise1d": (lambda: keras.layers.DepthwiseConv1D(3, depth_multiplier=2, padding="same", dilation_rate=2,
                                                         activation="relu"), (2, 9, 3)),
}


@pytest.mark.parametrize("kind", sorted(LAYERS))
def test_forward_pass_and_ranges_match_numpy(kind):
    """Input, kernel and output fake-quantized as re-derived; ranges follow the EMA of batch ranges."""
    make, shape = LAYERS[kind]
    rng = np.random.default_rng(0)
    batches = [rng.normal(loc=0.3 * i, size=shape).astype("float32") for i in range(3)]
    wrapper = QuantizeWrapper(make(), ema_decay=0.9)
    for batch in batches:
        got = keras.ops.convert_to_numpy(wrapper(batch, training=True))
    assert float(wrapper.observations.numpy()) == 3
    low, high = reference.ema_ranges(batches, 0.9)
    assert float(wrapper.input_min.numpy()) == pytest.approx(low, rel=1e-5)
    assert float(wrapper.input_max.numpy()) == pytest.approx(high, rel=1e-5)
    # The float layer itself, fed the re-derived fake-quantized input and kernel.
    plain = make()
    plain.build(shape)
    kernel, bias = (keras.ops.convert_to_numpy(w) for w in wrapper.layer.weights)
    channels = kernel.reshape(*kernel.shape[:-2], -1) if kind.startswith("depthwise") else kernel
    plain.set_weights([reference.quantize_weights(channels).reshape(kernel.shape), bias])
    activation = plain.activation
    plain.activation = keras.activations.linear
    x = reference.fake_quant(batches[-1], float(wrapper.input_min.numpy()), float(wrapper.input_max.numpy()))
    pre = keras.ops.convert_to_numpy(plain(x))
    if not wrapper.fused_activation:
        pre = reference.fake_quant(pre, float(wrapper.pre_activation_min.numpy()),
                                   float(wrapper.pre_activation_max.numpy()))
    out = keras.ops.convert_to_numpy(activation(pre))
    want = reference.fake_quant(out, float(wrapper.output_min.numpy()), float(wrapper.output_max.numpy()))
    step = (float(wrapper.output_max.numpy()) - float(wrapper.output_min.numpy())) / 255
    assert got.shape == want.shape
    assert np.mean(np.abs(got - want) < 1e-4) > 0.98  # float sums may round a rare value one level off
    assert np.max(np.abs(got - want)) <= step + 1e-5


def test_inference_uses_frozen_ranges():
    wrapper = QuantizeWrapper(keras.layers.Dense(2))
    x = np.ones((4, 3), "float32")
    wrapper(x, training=True)
    before = [float(v.numpy()) for v in (wrapper.input_min, wrapper.input_max, wrapper.output_max)]
    wrapper(10 * x, training=False)
    assert [float(v.numpy()) for v in (wrapper.input_min, wrapper.input_max, wrapper.output_max)] == before
    assert float(wrapper.observations.numpy()) == 1


@pytest.mark.parametrize("layer,match", [
    (keras.layers.LSTM(3, name="rnn"), "layer 'rnn' of type .*LSTM. Supported layer types: Dense, Conv1D, "
                                       "Conv2D, DepthwiseConv1D, DepthwiseConv2D"),
    (keras.layers.Conv2DTranspose(3, 2, name="up"), "'up'.*Conv2DTranspose"),
    (keras.layers.Conv2D(3, 2, data_format="channels_first", name="cf"), "channels_last.*'cf'"),
    (keras.layers.Conv2D(4, 2, groups=2, name="grouped"), "groups=1.*'grouped'.*groups=2"),
])
def test_refuses_unsupported_layers(layer, match):
    with pytest.raises(ValueError, match=match):
        QuantizeWrapper(layer)


@pytest.mark.parametrize("kwargs,match", [
    ({"ema_decay": 1.0}, "ema_decay.*Received: ema_decay=1.0"),
    ({"ema_decay": True}, "ema_decay"),
    ({"quantize_inputs": "yes"}, "quantize_inputs.*'yes'"),
])
def test_validates_arguments(kwargs, match):
    with pytest.raises(ValueError, match=match):
        QuantizeWrapper(keras.layers.Dense(2), **kwargs)


def test_config_round_trip():
    wrapper = QuantizeWrapper(keras.layers.Conv1D(3, 2, name="c"), quantize_inputs=False, ema_decay=0.99,
                              preserve_sparsity=False, name="q")
    config = wrapper.get_config()
    assert {k: config[k] for k in ("quantize_inputs", "ema_decay", "preserve_sparsity", "name")} == {
        "quantize_inputs": False, "ema_decay": 0.99, "preserve_sparsity": False, "name": "q"}
    again = QuantizeWrapper.from_config(copy.deepcopy(config))  # Wrapper.from_config pops "layer"
    assert again.get_config() == config and isinstance(again.layer, keras.layers.Conv1D)


def test_keras_file_round_trip_keeps_ranges_and_mask(tmp_path):
    rng = np.random.default_rng(0)
    inputs = keras.Input((6,))
    model = keras.Model(inputs, QuantizeWrapper(keras.layers.Dense(4, activation="relu"))(inputs))
    wrapper = model.layers[1]
    kernel = rng.normal(size=(6, 4)).astype("float32")
    kernel[::2] = 0
    wrapper.layer.kernel.assign(kernel)
    wrapper.update_sparsity_mask()
    model(rng.normal(size=(8, 6)).astype("float32"), training=True)
    model.save(tmp_path / "qat.keras")
    loaded = keras.saving.load_model(tmp_path / "qat.keras", safe_mode=True)
    x = rng.normal(size=(5, 6)).astype("float32")
    np.testing.assert_array_equal(loaded.predict(x, verbose=0), model.predict(x, verbose=0))
    restored = loaded.layers[1]
    for name in ("input_min", "input_max", "output_min", "output_max", "observations", "kernel_mask"):
        np.testing.assert_array_equal(getattr(restored, name).numpy(), getattr(wrapper, name).numpy())
    assert float(restored.input_min.numpy()) < 0 < float(restored.input_max.numpy())
    np.testing.assert_array_equal(restored.kernel_mask.numpy(), kernel != 0)
    assert restored.layer.kernel.constraint is not None  # the mask is attached again after loading
