"""LoRA through Keras's `enable_lora`: only the factors train, the kernel is W0 + (alpha/rank) A@B, merged exports."""

from __future__ import annotations

import keras
import numpy as np
import pytest

from kerasopt._keras_compat import base_kernel
from kerasopt.models.errors import ModelError
from kerasopt.models.lora import apply_lora, lora_state, set_lora_state
from kerasopt.recipe.run.techniques.lora import LoRAFineTuning


def _model() -> keras.Model:
    keras.utils.set_random_seed(0)
    return keras.Sequential([keras.Input((6,)), keras.layers.Dense(5, activation="relu", name="hidden"),
                             keras.layers.BatchNormalization(name="norm"), keras.layers.Dense(3, name="out")])


def test_only_the_factors_train_and_the_kernel_is_w0_plus_the_scaled_product():
    model = _model()
    before = {layer.name: [w.numpy().copy() for w in layer.weights] for layer in model.layers}
    layers = apply_lora(model, rank=2, alpha=4.0, layers=["hidden", "out"])
    assert [layer.name for layer in layers] == ["hidden", "out"]
    # rank * (in + out) per layer: 2 * (6 + 5) + 2 * (5 + 3); biases and batch norm frozen.
    assert sum(int(np.prod(w.shape)) for w in model.trainable_weights) == 22 + 16
    assert {w.name for w in model.trainable_weights} == {"lora_kernel_a", "lora_kernel_b"}
    x = np.random.default_rng(0).normal(size=(32, 6)).astype("float32")
    y = np.random.default_rng(1).normal(size=(32, 3)).astype("float32")
    model.compile(optimizer=keras.optimizers.Adam(0.05), loss="mse")
    model.fit(x, y, batch_size=8, epochs=2, shuffle=False, verbose=0)
    for layer in layers:
        w0, bias = before[layer.name]
        a, b = layer.lora_kernel_a.numpy(), layer.lora_kernel_b.numpy()
        assert np.abs(b).max() > 0  # B starts at zero: it trained
        np.testing.assert_array_equal(base_kernel(layer).numpy(), w0)
        np.testing.assert_allclose(layer.kernel.numpy(), w0 + (a @ b) * 4.0 / 2, rtol=1e-6, atol=1e-7)
        np.testing.assert_array_equal(layer.bias.numpy(), bias)
    for weight, old in zip(model.get_layer("norm").weights, before["norm"], strict=True):
        np.testing.assert_array_equal(weight.numpy(), old)  # frozen: inference mode, statistics kept

    # Weight files merge the factors (and load them as zeros); the state restores them exactly.
    saved = lora_state(layers)
    set_lora_state(layers, [np.zeros_like(v) for v in saved])
    set_lora_state(layers, saved)
    for array, kept in zip(lora_state(layers), saved, strict=True):
        np.testing.assert_array_equal(array, kept)

    # The export: plain Dense layers with the merged kernels, the same outputs.
    merged = LoRAFineTuning().strip(model)
    assert all("lora_rank" not in layer.get_config() for layer in merged.layers)
    assert len(merged.weights) == len(model.weights) - 4
    np.testing.assert_allclose(merged.predict(x, verbose=0), model.predict(x, verbose=0), rtol=1e-6, atol=1e-6)


def test_einsum_dense_gets_lora_too_and_a_pattern_without_a_layer_is_named():
    inputs = keras.Input((4, 6))
    model = keras.Model(inputs, keras.layers.EinsumDense("abc,cd->abd", output_shape=(4, 3), name="proj")(inputs))
    apply_lora(model, rank=1)
    assert sum(int(np.prod(w.shape)) for w in model.trainable_weights) == 1 * (6 + 3)
    with pytest.raises(ModelError, match=r"matches no Dense or EinsumDense layer .*those layers: hidden, out"):
        apply_lora(_model(), rank=2, layers=["norm"])
