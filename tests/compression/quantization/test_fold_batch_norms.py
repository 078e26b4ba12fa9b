"""fold_batch_norms: predictions unchanged, the right batch norms folded, refusals."""

import keras
import numpy as np
import pytest

from kerasopt.compression.quantization import fold_batch_norms


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
    """_graph reads Layer._inbound_nodes, Node.parent_nodes and KerasTensor._keras_history."""
    inputs = keras.Input((2,))
    layer = keras.layers.Dense(2)
    outputs = layer(inputs)
    assert layer._inbound_nodes[0].parent_nodes[0].operation is inputs._keras_history.operation
    assert outputs._keras_history.operation is layer
