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


@pytest.mark.parametrize(("arguments", "message"), [
    ({"rank": 2, "alpha": -1}, "`alpha` must be a number > 0, or None (`rank`: a scale of 1). Received: alpha=-1"),
    ({"rank": 2, "alpha": 0.0}, "`alpha` must be a number > 0, or None (`rank`: a scale of 1). Received: alpha=0.0"),
    ({"rank": 0}, "`rank` must be an integer >= 1. Received: rank=0"),
    ({"rank": 2, "layers": ["norm"]}, "`layers` matches no Dense or EinsumDense layer of"),
])
def test_python_arguments_are_checked_and_named_as_arguments(arguments, message):
    # The Python API names its own arguments (the recipe adds `training.lora.` where it checks them).
    model = _model()
    with pytest.raises(ModelError) as info:
        apply_lora(model, **arguments)
    assert str(info.value).startswith(message)
    assert "training.lora" not in str(info.value)
    assert not any(getattr(layer, "lora_enabled", False) for layer in model.layers)


def test_after_a_save_and_load_apply_lora_again_restores_what_trains(tmp_path):
    # Keras saves each layer's `trainable` flag but no variable's: a loaded LoRA layer's bias
    # trains again, and its factors come back as a fresh A and a zero B over the merged kernel.
    model = _model()
    apply_lora(model, rank=2, layers=["hidden", "out"])
    model.get_layer("out").lora_kernel_b.assign(np.ones((2, 3), "float32"))
    model.save(tmp_path / "lora.keras")
    loaded = keras.saving.load_model(tmp_path / "lora.keras")
    trainable = sorted(w.path for w in loaded.trainable_weights)
    assert trainable == ["hidden/bias", "hidden/lora_kernel_a", "hidden/lora_kernel_b",
                         "out/bias", "out/lora_kernel_a", "out/lora_kernel_b"]
    assert sum(int(np.prod(w.shape)) for w in loaded.trainable_weights) == 22 + 16 + 5 + 3
    np.testing.assert_array_equal(loaded.get_layer("out").lora_kernel_b.numpy(), np.zeros((2, 3)))
    apply_lora(loaded, rank=2, layers=["hidden", "out"])  # as documented: the same call again
    assert sum(int(np.prod(w.shape)) for w in loaded.trainable_weights) == 22 + 16
    x = np.random.default_rng(0).normal(size=(4, 6)).astype("float32")
    np.testing.assert_allclose(loaded.predict(x, verbose=0), model.predict(x, verbose=0), rtol=1e-5, atol=1e-6)
