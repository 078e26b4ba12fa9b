"""Tests of kerasopt.models.build.build_model for the built-in architectures."""

import keras
import numpy as np
import pytest

from kerasopt.models.build import build_model
from kerasopt.models.errors import ModelError


def train_one_step(model, input_shape, num_classes=3):
    """Compile, run one SGD step on 4 random samples, return whether the weights moved."""
    rng = np.random.default_rng(0)
    x = rng.normal(size=(4, *input_shape)).astype("float32")
    y = rng.integers(0, num_classes, size=4)
    model.compile(optimizer=keras.optimizers.SGD(0.1), loss="sparse_categorical_crossentropy")
    before = [w.numpy().copy() for w in model.trainable_weights]
    loss = model.train_on_batch(x, y)
    after = [w.numpy() for w in model.trainable_weights]
    assert np.isfinite(loss)
    return any(not np.allclose(b, a) for b, a in zip(before, after, strict=True))


@pytest.mark.parametrize("spec,input_shape", [
    ({"architecture": "mlp", "units": [8]}, (6,)),
    ({"architecture": "mlp", "units": [8]}, (4, 4, 1)),
    ({"architecture": "cnn", "filters": [4, 4]}, (12, 2)),
    ({"architecture": "cnn", "filters": [4], "pooling": "avg", "global_pooling": True, "dense_units": [5]},
     (8, 8, 1)),
    ({"architecture": "resnet", "filters": 4, "blocks_per_stage": [1, 1]}, (8, 2)),
    ({"architecture": "resnet", "filters": 4, "blocks_per_stage": [1, 1]}, (8, 8, 3)),
    ({"architecture": "mobilenet", "alpha": 0.25, "filters": [16, 16]}, (8, 2)),
    ({"architecture": "mobilenet", "alpha": 0.25, "filters": [16, 16]}, (8, 8, 3)),
])
def test_architectures_build_and_train(spec, input_shape):
    model = build_model(spec, input_shape=input_shape, num_classes=3)
    assert model.output_shape == (None, 3)
    assert train_one_step(model, input_shape)


def test_mnist1d_paper_cnn_parameter_count():
    # Greydanus 2020 ConvBase: Conv1d(1,25,5,s2,p1), Conv1d(25,25,3,s2,p1) x2, Linear(125, 10).
    spec = {"architecture": "cnn", "filters": [25, 25, 25], "kernel_size": [5, 3, 3], "strides": [2, 2, 2],
            "pooling": "none", "global_pooling": False, "dense_units": []}
    model = build_model(spec, input_shape=(40, 1), num_classes=10)
    conv1 = 25 * (5 * 1) + 25
    conv2 = 25 * (3 * 25) + 25
    conv3 = 25 * (3 * 25) + 25
    lengths = [20, 10, 5]  # 40 -> 20 -> 10 -> 5, the same as PyTorch's padding 1 here
    linear = (25 * lengths[-1]) * 10 + 10
    assert model.count_params() == conv1 + conv2 + conv3 + linear == 5210
    assert [model.get_layer(f"conv_{i}").output.shape[1] for i in (1, 2, 3)] == lengths
    # The brief's strides [2, 1, 1] variant: lengths 20, 20, 20.
    spec["strides"] = [2, 1, 1]
    model = build_model(spec, input_shape=(40, 1), num_classes=10)
    assert model.count_params() == conv1 + conv2 + conv3 + (25 * 20) * 10 + 10


def test_resnet_1d_layout_and_parameter_count():
    spec = {"architecture": "resnet", "filters": 4, "blocks_per_stage": [1, 1], "normalization": "none"}
    model = build_model(spec, input_shape=(8, 2), num_classes=10)
    stem = 3 * 2 * 4 + 4
    stage1 = 2 * (3 * 4 * 4 + 4)
    stage2 = (3 * 4 * 8 + 8) + (3 * 8 * 8 + 8) + (1 * 4 * 8 + 8)  # conv1, conv2, 1x1 projection
    head = 8 * 10 + 10
    assert model.count_params() == stem + stage1 + stage2 + head
    assert model.get_layer("stage2_block1_add").output.shape[1:] == (4, 8)
    names = [layer.name for layer in model.layers]
    assert "stage1_block1_proj" not in names and "stage2_block1_proj" in names


def test_resnet_defaults_to_batch_norm_without_conv_bias():
    model = build_model({"architecture": "resnet", "filters": 2, "blocks_per_stage": [1]},
                        input_shape=(4, 4, 1), num_classes=2)
    assert isinstance(model.get_layer("stem_conv_bn"), keras.layers.BatchNormalization)
    assert model.get_layer("stem_conv").use_bias is False
    # Regression: with Keras's momentum 0.99 a MobileNet trained 160 steps on MNIST-1D had 92%
    # training accuracy and 10% at inference (moving variance still ~0.2 of its initial 1.0).
    assert model.get_layer("stem_conv_bn").momentum == 0.9


def test_mobilenet_2d_width_multiplier_and_parameter_count():
    spec = {"architecture": "mobilenet", "alpha": 0.5, "filters": [8, 16, 32], "normalization": "none"}
    model = build_model(spec, input_shape=(8, 8, 3), num_classes=10)
    widths = [4, 8, 16]  # round(0.5 * f)
    stem = 3 * 3 * 3 * widths[0] + widths[0]
    block1 = (3 * 3 * widths[0] + widths[0]) + (widths[0] * widths[1] + widths[1])
    block2 = (3 * 3 * widths[1] + widths[1]) + (widths[1] * widths[2] + widths[2])
    head = widths[2] * 10 + 10
    assert model.count_params() == stem + block1 + block2 + head
    assert isinstance(model.get_layer("block1_depthwise"), keras.layers.DepthwiseConv2D)
    assert model.get_layer("block1_pointwise").output.shape[1:] == (4, 4, 8)   # stem stride 2, block1 stride 1
    assert model.get_layer("block2_pointwise").output.shape[1:] == (2, 2, 16)  # block2 stride 2


def test_common_options_reach_the_layers():
    spec = {"architecture": "mlp", "units": [8, 8], "activation": "gelu", "dropout": 0.25,
            "normalization": "layer", "l1": 0.0, "l2": 0.01}
    model = build_model(spec, input_shape=(5,), num_classes=3)
    assert model.get_layer("dense_1_act").activation is keras.activations.gelu
    assert model.get_layer("dense_2_dropout").rate == 0.25
    assert isinstance(model.get_layer("dense_1_ln"), keras.layers.LayerNormalization)
    kernels = [layer.kernel.numpy() for layer in model.layers if isinstance(layer, keras.layers.Dense)]
    expected = sum(0.01 * np.sum(k**2) for k in kernels)
    np.testing.assert_allclose(float(sum(model.losses)), expected, rtol=1e-5)
    assert model.get_layer("head").activation is keras.activations.softmax


def test_seeded_builds_are_reproducible_and_layers_differ():
    spec = {"architecture": "mlp", "units": [8, 8, 8]}
    a = build_model(spec, input_shape=(4,), num_classes=2, seed=3)
    b = build_model(spec, input_shape=(4,), num_classes=2, seed=3)
    c = build_model(spec, input_shape=(4,), num_classes=2, seed=4)
    for wa, wb in zip(a.get_weights(), b.get_weights(), strict=True):
        np.testing.assert_array_equal(wa, wb)
    assert not np.allclose(a.get_layer("dense_1").kernel.numpy(), c.get_layer("dense_1").kernel.numpy())
    assert not np.allclose(a.get_layer("dense_2").kernel.numpy(), a.get_layer("dense_3").kernel.numpy())


def test_initializer_specs_and_lsuv_builds_orthogonal():
    model = build_model({"architecture": "mlp", "units": [64], "kernel_initializer": "lsuv"},
                        input_shape=(128,), num_classes=2)
    kernel = model.get_layer("dense_1").kernel.numpy()
    np.testing.assert_allclose(kernel.T @ kernel, np.eye(64), atol=1e-5)  # orthonormal columns
    spec = {"architecture": "mlp", "units": [64], "kernel_initializer": {"type": "random_normal", "stddev": 0.5}}
    kernel = build_model(spec, input_shape=(128,), num_classes=2).get_layer("dense_1").kernel.numpy()
    assert abs(kernel.std() - 0.5) < 0.02 and abs(kernel.mean()) < 0.02


def test_output_activation_auto_for_each_task():
    spec = {"architecture": "mlp", "units": [4]}
    regression = build_model(spec, input_shape=(3,), num_classes=None)
    assert regression.output_shape == (None, 1)
    assert regression.get_layer("head").activation is keras.activations.linear
    binary = build_model(spec, input_shape=(3,), num_classes=1)
    assert binary.get_layer("head").activation is keras.activations.sigmoid
    logits = build_model({**spec, "output_activation": "linear"}, input_shape=(3,), num_classes=4)
    assert logits.get_layer("head").activation is keras.activations.linear


def test_normalizer_is_the_first_layer_and_takes_raw_inputs():
    rng = np.random.default_rng(1)
    x = (100 + 20 * rng.normal(size=(64, 6))).astype("float32")
    normalizer = keras.layers.Normalization()
    normalizer.adapt(x)
    spec = {"architecture": "mlp", "units": [8]}
    with_norm = build_model(spec, input_shape=(6,), num_classes=3, normalizer=normalizer, seed=7)
    plain = build_model(spec, input_shape=(6,), num_classes=3, seed=7)
    assert with_norm.layers[1] is normalizer
    standardized = (x - x.mean(axis=0)) / x.std(axis=0)
    np.testing.assert_allclose(with_norm.predict(x, verbose=0), plain.predict(standardized, verbose=0),
                               atol=1e-5)


def test_none_values_take_defaults():
    model = build_model({"architecture": "cnn", "filters": None, "dropout": None, "normalization": None},
                        input_shape=(8, 1), num_classes=2)
    assert [model.get_layer(f"conv_{i}").filters for i in (1, 2)] == [32, 64]


@pytest.mark.parametrize("spec,input_shape,match", [
    ({"architecture": "transformer"}, (4,), "model.architecture.*transformer"),
    ({"architecture": "mlp", "unit": [3]}, (4,), "Did you mean 'units'"),
    ({"architecture": "mlp", "filters": [3]}, (4,), "`model.filters` is not an option of architecture 'mlp'"),
    ({"architecture": "cnn"}, (40,), "input_shape=\\(40,\\); add a channel axis"),
    ({"architecture": "resnet"}, (2, 2, 2, 2), "needs \\(steps, channels\\)"),
    ({"architecture": "cnn", "filters": [4, 4], "kernel_size": [3]}, (8, 1), "kernel_size.*one integer per layer"),
    ({"architecture": "cnn", "pooling": "mean"}, (8, 1), "model.pooling.*Received: pooling='mean'"),
    ({"architecture": "mlp", "units": [0]}, (4,), "model.units"),
    ({"architecture": "mlp", "activation": "relu7"}, (4,), "model.activation.*relu7"),
    ({"architecture": "mlp", "output_activation": "nope"}, (4,), "model.output_activation"),
    ({"architecture": "mlp", "kernel_initializer": "he_nromal"}, (4,), "kernel_initializer.*he_nromal"),
    ({"architecture": "mlp", "dropout": 1.5}, (4,), "model.dropout.*Received: dropout=1.5"),
    ({"architecture": "mlp", "l2": -1}, (4,), "model.l2"),
    ({"architecture": "mlp", "normalization": "group"}, (4,), "model.normalization"),
    ({"architecture": "mobilenet", "alpha": 0}, (8, 1), "model.alpha"),
    ({"architecture": "layers", "layers": [{"type": "dense", "units": 2}], "dropout": 0.5}, (4,),
     "has no effect with architecture 'layers'"),
    ({"architecture": "mlp"}, (), "input_shape"),
])
def test_bad_specs_raise_model_error(spec, input_shape, match):
    with pytest.raises(ModelError, match=match):
        build_model(spec, input_shape=input_shape, num_classes=2)


def test_model_error_is_a_value_error():
    with pytest.raises(ValueError, match="num_classes"):
        build_model({"architecture": "mlp"}, input_shape=(3,), num_classes=0)


def test_recipe_style_component_dicts_are_accepted():
    # The recipe schema dumps components as {"type": name} dicts.
    spec = {"architecture": "mlp", "units": [4], "activation": {"type": "elu"},
            "kernel_initializer": {"type": "lsuv"}, "normalization": "none"}
    model = build_model(spec, input_shape=(8,), num_classes=2)
    assert model.get_layer("dense_1_act").activation is keras.activations.elu
    assert isinstance(model.get_layer("dense_1").kernel_initializer, keras.initializers.Orthogonal)
