"""fold_batch_norms: predictions unchanged, the right batch norms folded, refusals."""

import keras
import numpy as np
import pytest

from kerasopt.compression.quantization import QuantizeWrapper, fold_batch_norms, quantize_model


def _randomize_batch_norms(model, seed):
    rng = np.random.default_rng(seed)
    for layer in model._flatten_layers():
        if isinstance(layer, keras.layers.BatchNormalization):
            n = layer.gamma.shape[0]
            layer.set_weights([rng.uniform(0.5, 2, n), rng.normal(size=n), rng.normal(size=n),
                               rng.uniform(0.1, 3, n)])


@pytest.mark.parametrize("make,shape", [
    (lambda: keras.layers.Dense(5), (7,)),
    (lambda: keras.layers.Conv1D(4, 3, use_bias=False), (9, 3)),
    (lambda: keras.layers.Conv2D(4, 3, padding="same"), (6, 6, 3)),
    (lambda: keras.layers.DepthwiseConv2D(3, depth_multiplier=2), (6, 6, 3)),
    (lambda: keras.layers.DepthwiseConv1D(3, depth_multiplier=2), (9, 3)),
])
def test_folded_predictions_equal(make, shape):
    model = keras.Sequential([keras.Input(shape), make(), keras.layers.BatchNormalization(epsilon=0.01),
                              keras.layers.Activation("relu")])
    _randomize_batch_norms(model, 0)
    folded = fold_batch_norms(model)
    assert [type(layer).__name__ for layer in folded.layers][1:] == ["Identity", "Activation"]
    assert folded.layers[0].use_bias and folded.layers[0].name == model.layers[0].name
    x = np.random.default_rng(1).normal(size=(8, *shape)).astype("float32")
    np.testing.assert_allclose(folded.predict(x, verbose=0), model.predict(x, verbose=0), atol=1e-5)
    assert isinstance(model.layers[1], keras.layers.BatchNormalization)  # the original is untouched


def test_only_foldable_batch_norms_fold_and_nested_models_too():
    inner = keras.Sequential([keras.Input((4,)), keras.layers.Dense(4), keras.layers.BatchNormalization()],
                             name="inner")
    inputs = keras.Input((4,))
    after_activation = keras.layers.Dense(4, activation="relu", name="act")(inputs)
    after_activation = keras.layers.BatchNormalization(name="bn_after_relu")(after_activation)
    shared = keras.layers.Dense(4, name="shared")(after_activation)
    bn_shared = keras.layers.BatchNormalization(name="bn_shared")(shared)
    merged = keras.layers.Add()([bn_shared, shared])
    model = keras.Model(inputs, inner(merged))
    _randomize_batch_norms(model, 2)
    folded = fold_batch_norms(model)
    kinds = {layer.name: type(layer).__name__ for layer in folded.layers}
    assert kinds["bn_after_relu"] == "BatchNormalization" and kinds["bn_shared"] == "BatchNormalization"
    assert [type(layer).__name__ for layer in folded.get_layer("inner").layers] == ["Dense", "Identity"]
    x = np.random.default_rng(3).normal(size=(6, 4)).astype("float32")
    np.testing.assert_allclose(folded.predict(x, verbose=0), model.predict(x, verbose=0), atol=1e-5)


class Subclassed(keras.Model):
    def __init__(self):
        super().__init__()
        self.dense = keras.layers.Dense(2)

    def call(self, inputs):
        return self.dense(inputs)


def test_refuses_subclassed_and_unbuilt_models():
    model = Subclassed()
    model(np.zeros((1, 3), "float32"))
    with pytest.raises(ValueError, match="Subclassed is a subclassed model.*keras.Model\\(inputs, outputs\\)"):
        fold_batch_norms(model)
    with pytest.raises(ValueError, match="built model"):
        fold_batch_norms(keras.Sequential([keras.layers.Dense(2)]))
    with pytest.raises(ValueError, match="keras.Model.*Received: .*Dense"):
        fold_batch_norms(keras.layers.Dense(2))


def test_graph_walk_uses_keras_internals_that_exist():
    """_graph reads Layer._inbound_nodes, Node.parent_nodes, Node.arguments and KerasTensor._keras_history."""
    inputs = keras.Input((2,))
    layer = keras.layers.Dense(2)
    outputs = layer(inputs)
    assert layer._inbound_nodes[0].parent_nodes[0].operation is inputs._keras_history.operation
    assert outputs._keras_history.operation is layer
    bn = keras.layers.BatchNormalization()
    bn(outputs)  # Keras records the mask it fills in: why the Identity replacing `bn` is called by hand
    assert bn._inbound_nodes[0].arguments.args[0] is outputs
    assert bn._inbound_nodes[0].arguments.kwargs == {"mask": None}
    assert [op.name for op in keras.Model(inputs, outputs + 1).operations][-1].startswith("add")


# Issue 19 item 7: in a Functional model every fold crashed inside keras.models.clone_model with
# "TypeError: got an unexpected keyword argument 'mask'" (the node of a BatchNormalization records
# the mask=None Keras fills in, and clone_model replayed it on the Identity). The oracle below
# re-derives the inference-mode batch norm in float64 NumPy from the original layers' weights.


def _numpy(layer):
    return [w.astype("float64") for w in layer.get_weights()]


def _conv(x, kernel, depthwise=False):
    """Stride-1 'valid' cross-correlation: x (n, *spatial, c), kernel (*k, c, out or multiplier)."""
    rank = kernel.ndim - 2
    windows = np.lib.stride_tricks.sliding_window_view(x, kernel.shape[:rank], axis=tuple(range(1, rank + 1)))
    spatial = "ab"[:rank]  # windows: (n, *out_spatial, c, *k)
    if depthwise:
        out = np.einsum(f"n{spatial}c{spatial.upper()},{spatial.upper()}cm->n{spatial}cm", windows, kernel)
        return out.reshape(*out.shape[:-2], -1)  # channel c * multiplier + m, as Keras orders them
    return np.einsum(f"n{spatial}c{spatial.upper()},{spatial.upper()}co->n{spatial}o", windows, kernel)


def _apply(layer, x):
    """`layer` (Dense or a 'valid' conv) in float64."""
    weights = _numpy(layer)
    if isinstance(layer, keras.layers.Dense):
        y = x @ weights[0]
    else:
        y = _conv(x, weights[0], depthwise=isinstance(layer, keras.layers.DepthwiseConv2D))
    return y + weights[1] if layer.use_bias else y


def _batch_norm(bn, y):
    gamma, beta, mean, variance = _numpy(bn)
    return gamma * (y - mean) / np.sqrt(variance + bn.epsilon) + beta


LAYER_CASES = {
    "dense": (lambda: keras.layers.Dense(5, name="layer"), (7,)),
    "dense_no_bias": (lambda: keras.layers.Dense(5, use_bias=False, name="layer"), (7,)),
    "conv1d": (lambda: keras.layers.Conv1D(4, 3, name="layer"), (9, 3)),
    "conv2d": (lambda: keras.layers.Conv2D(4, (3, 2), use_bias=False, name="layer"), (6, 5, 3)),
    "depthwise": (lambda: keras.layers.DepthwiseConv2D(3, depth_multiplier=2, name="layer"), (6, 6, 3)),
}


@pytest.mark.parametrize("case", sorted(LAYER_CASES))
def test_functional_layer_batch_norm_relu_folds_exactly(case):
    make, shape = LAYER_CASES[case]
    inputs = keras.Input(shape)
    x = keras.layers.BatchNormalization(epsilon=0.01, name="bn")(make()(inputs))
    model = keras.Model(inputs, keras.layers.ReLU(name="relu")(x))
    _randomize_batch_norms(model, 4)
    folded = fold_batch_norms(model)
    assert [type(layer).__name__ for layer in folded.layers[1:]] == [
        type(model.get_layer("layer")).__name__, "Identity", "ReLU"]
    x = np.random.default_rng(5).normal(size=(8, *shape))
    before_relu = _batch_norm(model.get_layer("bn"), _apply(model.get_layer("layer"), x))
    expected = np.maximum(before_relu, 0)
    assert np.mean(expected > 0) > 0.2  # the ReLU does not hide the comparison
    np.testing.assert_allclose(model(x.astype("float32"), training=False), expected, rtol=1e-5, atol=1e-5)
    np.testing.assert_allclose(folded(x.astype("float32"), training=False), expected, rtol=1e-5, atol=1e-5)
    # The folded layer alone (kernel W * s, bias (b - mean) * s + beta) is the layer then the batch norm.
    assert folded.get_layer("layer").use_bias
    np.testing.assert_allclose(_apply(folded.get_layer("layer"), x), before_relu, rtol=1e-5, atol=1e-5)


def _residual_model():
    """Conv-BN-ReLU-Conv-BN + projected shortcut (Conv-BN), Add, then a BN that has nothing to fold into."""
    inputs = keras.Input((7, 7, 3))
    first = keras.layers.BatchNormalization(name="bn_first")(inputs)  # right after the input
    y = keras.layers.Conv2D(4, 3, name="conv1")(first)
    y = keras.layers.ReLU(name="relu1")(keras.layers.BatchNormalization(name="bn1")(y))
    y = keras.layers.BatchNormalization(name="bn2")(keras.layers.Conv2D(4, 3, name="conv2")(y))
    shortcut = keras.layers.Conv2D(4, 5, name="proj")(first)  # 7 - 5 + 1 = 3, the size of y
    shortcut = keras.layers.BatchNormalization(name="bn_proj")(shortcut)
    added = keras.layers.Add(name="add")([y, shortcut])
    out = keras.layers.ReLU(name="out")(keras.layers.BatchNormalization(name="bn_after_add")(added))
    return keras.Model(inputs, out)


def test_residual_block_folds_the_conv_batch_norms_and_keeps_the_others_exactly():
    model = _residual_model()
    _randomize_batch_norms(model, 6)
    folded = fold_batch_norms(model)
    kinds = {layer.name: type(layer).__name__ for layer in folded.layers}
    assert {name: kinds[name] for name in ("bn1", "bn2", "bn_proj")} == dict.fromkeys(("bn1", "bn2", "bn_proj"),
                                                                                      "Identity")
    assert kinds["bn_first"] == kinds["bn_after_add"] == "BatchNormalization"  # nothing to fold into: float BN
    x = np.random.default_rng(7).normal(size=(4, 7, 7, 3))
    get = model.get_layer
    first = _batch_norm(get("bn_first"), x)
    y = np.maximum(_batch_norm(get("bn1"), _apply(get("conv1"), first)), 0)
    y = _batch_norm(get("bn2"), _apply(get("conv2"), y))
    added = y + _batch_norm(get("bn_proj"), _apply(get("proj"), first))
    expected = np.maximum(_batch_norm(get("bn_after_add"), added), 0)
    np.testing.assert_allclose(model(x.astype("float32"), training=False), expected, rtol=1e-5, atol=1e-5)
    np.testing.assert_allclose(folded(x.astype("float32"), training=False), expected, rtol=1e-5, atol=1e-5)
    # QAT wraps the three convolutions; the batch norm on the raw input stays float (it trains on
    # batch statistics), the one after the int8 Add becomes an int8 depthwise convolution.
    qat = quantize_model(model)
    kinds = {layer.name: type(layer).__name__ for layer in qat.layers}
    assert kinds["bn_first"] == "BatchNormalization"
    assert sorted(layer.layer.name for layer in qat.layers if isinstance(layer, QuantizeWrapper)) == [
        "bn_after_add", "conv1", "conv2", "proj"]
    np.testing.assert_allclose(qat.get_layer("quantize_bn_after_add").float_call(added.astype("float32")),
                               _batch_norm(get("bn_after_add"), added), rtol=1e-5, atol=1e-5)


def test_a_keras_mask_passes_through_the_folded_batch_norm():
    """The Identity is called without the recorded `mask`; the mask rides on the tensor instead."""
    inputs = keras.Input((4,), dtype="int32")
    x = keras.layers.Embedding(10, 3, mask_zero=True)(inputs)
    x = keras.layers.BatchNormalization(name="bn")(keras.layers.Dense(5)(x))
    model = keras.Model(inputs, keras.layers.GlobalAveragePooling1D()(x))  # averages unmasked steps only
    _randomize_batch_norms(model, 8)
    folded = fold_batch_norms(model)
    assert isinstance(folded.get_layer("bn"), keras.layers.Identity)
    padded = np.array([[3, 7, 0, 0], [5, 0, 0, 0]])
    unpadded = np.array([[3, 7, 3, 7], [5, 5, 5, 5]])  # the same mean over the unmasked steps
    expected = model(unpadded, training=False)
    np.testing.assert_allclose(model(padded, training=False), expected, rtol=1e-5, atol=1e-5)
    np.testing.assert_allclose(folded(padded, training=False), expected, rtol=1e-5, atol=1e-5)


def test_functional_model_inside_a_sequential_folds_too():
    """clone_model(recursive=True) does not pass `call_function` into a Sequential's layers."""
    inputs = keras.Input((4,))
    inner = keras.Model(inputs, keras.layers.BatchNormalization(name="bn")(keras.layers.Dense(3)(inputs)),
                        name="inner")
    model = keras.Sequential([keras.Input((4,)), inner, keras.layers.Dense(2)])
    _randomize_batch_norms(model, 9)
    folded = fold_batch_norms(model)
    assert isinstance(folded.get_layer("inner").get_layer("bn"), keras.layers.Identity)
    x = np.random.default_rng(10).normal(size=(5, 4)).astype("float32")
    np.testing.assert_allclose(folded(x, training=False), model(x, training=False), rtol=1e-5, atol=1e-5)


def test_a_layer_whose_output_also_feeds_a_keras_op_is_not_folded():
    """`bn(h) + h`: the `+` is an operation, not a layer, and reads the unnormalized `h`."""
    inputs = keras.Input((5,))
    h = keras.layers.Dense(4, name="dense")(inputs)
    model = keras.Model(inputs, keras.layers.BatchNormalization(name="bn")(h) + h)
    _randomize_batch_norms(model, 11)
    folded = fold_batch_norms(model)
    assert isinstance(folded.get_layer("bn"), keras.layers.BatchNormalization)
    x = np.random.default_rng(12).normal(size=(5, 5)).astype("float32")
    np.testing.assert_allclose(folded(x, training=False), model(x, training=False), rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize("shape", [(9, 3), (5, 6, 3)], ids=["sequence", "image"])
def test_a_batch_norm_after_an_add_becomes_an_int8_depthwise_convolution_with_its_transform(shape):
    from kerasopt.compression.quantization.fold_batch_norms import batch_norm_as_depthwise

    inputs = keras.Input(shape)
    conv = keras.layers.Conv1D if len(shape) == 2 else keras.layers.Conv2D
    h = conv(3, 1, activation="relu", name="conv")(inputs)
    h = keras.layers.Add(name="add")([h, conv(3, 1, name="conv2")(h)])
    h = keras.layers.BatchNormalization(epsilon=0.01, name="bn")(h)  # nothing to fold into
    model = keras.Model(inputs, keras.layers.Flatten()(h))
    _randomize_batch_norms(model, 2)
    x = np.random.default_rng(3).normal(size=(6, *shape)).astype("float32")
    bn = model.get_layer("bn")
    depthwise = batch_norm_as_depthwise(bn)
    gamma, beta, mean, variance = (w.astype("float64") for w in bn.get_weights())
    h_in = keras.Model(inputs, model.get_layer("add").output).predict(x, verbose=0)
    np.testing.assert_allclose(keras.ops.convert_to_numpy(depthwise(h_in)),
                               (h_in - mean) / np.sqrt(variance + 0.01) * gamma + beta, atol=1e-5)
    assert depthwise.name == "bn" and depthwise.kernel_size == (1,) * len(shape[:-1])
    qat = quantize_model(model)
    assert [type(layer).__name__ for layer in qat.layers if layer.name.endswith("bn")] == ["QuantizeWrapper"]
    wrapper = qat.get_layer("quantize_bn")
    assert type(wrapper.layer).__name__ == f"DepthwiseConv{len(shape) - 1}D" and not wrapper.quantize_inputs
    np.testing.assert_allclose(keras.ops.convert_to_numpy(wrapper.float_call(h_in)),
                               keras.ops.convert_to_numpy(depthwise(h_in)), atol=1e-6)
    # A narrower selection leaves the batch norm as it was: float, training on batch statistics.
    chosen = quantize_model(model, layer_types=["Conv1D", "Conv2D"])
    assert type(chosen.get_layer("bn")).__name__ == "BatchNormalization"
