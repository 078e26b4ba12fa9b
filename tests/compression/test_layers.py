"""One rule for which layers pruning, clustering and QAT take: exact built-in types, or opt in.

tfmot's rule, read from its sources: `prune_registry.PruneRegistry.supports` and
`clustering_registry.ClusteringRegistry.supports` match `layer.__class__` exactly, and a
custom layer opts in with `get_prunable_weights()` / `get_clusterable_weights()`
(`pruning_wrapper_test.testCustomLayerNonPrunable` / `testCustomLayerPrunable`).
"""

import keras
import numpy as np
import pytest

from kerasopt.compression.clustering import ClusteredLayer, cluster_weights, strip_clustering
from kerasopt.compression.pruning import (
    ConstantSparsity,
    PruneLowMagnitude,
    UpdatePruning,
    prune_low_magnitude,
    pruning_summary,
)
from kerasopt.compression.quantization import quantize_model


class MyDense(keras.layers.Dense):
    """A subclass that computes with its kernel differently (scaled), as a subclass may."""

    def call(self, inputs):
        return super().call(inputs) * 2.0


class OptedIn(MyDense):
    def get_prunable_weights(self):
        return [self.kernel]

    def get_clusterable_weights(self):
        return [("kernel", self.kernel)]


def model_with(layer_class):
    keras.utils.set_random_seed(0)
    inputs = keras.Input((6,))
    x = layer_class(8, name="custom")(inputs)
    return keras.Model(inputs, keras.layers.Dense(2, name="plain")(x))


def test_a_subclass_of_a_supported_type_is_left_alone_by_all_three():
    model = model_with(MyDense)
    # Before: pruning wrapped it (isinstance), clustering refused it (exact type).
    pruned = prune_low_magnitude(model, ConstantSparsity(0.5, frequency=1))
    assert [layer.name for layer in pruned.layers if isinstance(layer, PruneLowMagnitude)] == [
        "prune_low_magnitude_plain"]
    clustered = cluster_weights(model, 4)
    assert [layer.name for layer in clustered.layers if isinstance(layer, ClusteredLayer)] == [
        "cluster_plain"]
    assert [type(layer).__name__ for layer in quantize_model(model).layers][1:] == [
        "MyDense", "QuantizeWrapper"]


@pytest.mark.parametrize("call", [
    lambda m: prune_low_magnitude(m, layers=["custom"]),
    lambda m: PruneLowMagnitude(m.get_layer("custom")),
    lambda m: cluster_weights(m, 4, layers=["custom"]),
    lambda m: ClusteredLayer(m.get_layer("custom")),
])
def test_naming_a_subclass_says_how_to_opt_in(call):
    with pytest.raises(ValueError, match=r"Layer 'custom' .*MyDense.* cannot be (pruned|clustered)\. .*"
                                         r"matched by exact type .* `get_(prunable|clusterable)_weights\(\)`"):
        call(model_with(MyDense))


def test_a_custom_layer_opts_in_to_pruning_and_clustering():
    model = model_with(OptedIn)
    pruned = prune_low_magnitude(model, ConstantSparsity(0.5, 0, frequency=1))
    assert sorted(layer.name for layer in pruned.layers if isinstance(layer, PruneLowMagnitude)) == [
        "prune_low_magnitude_custom", "prune_low_magnitude_plain"]
    pruned.compile("sgd", "mse")
    x = np.random.default_rng(0).normal(size=(8, 6)).astype("float32")
    pruned.fit(x, np.zeros((8, 2), "float32"), verbose=0, callbacks=[UpdatePruning()])
    assert pruning_summary(pruned)["layers"] == {"custom": 0.5, "plain": 0.5}

    clustered = cluster_weights(model, 3)
    wrapped = clustered.get_layer("cluster_custom")
    assert np.unique(keras.ops.convert_to_numpy(wrapped.layer.kernel)).size == 3
    stripped = strip_clustering(clustered)
    assert type(stripped.get_layer("custom")) is OptedIn
    np.testing.assert_allclose(stripped.predict(x, verbose=0), clustered.predict(x, verbose=0), rtol=1e-6)


def test_an_opt_in_must_name_exactly_one_float_weight():
    class TwoWeights(MyDense):
        def get_prunable_weights(self):
            return [self.kernel, self.bias]

    with pytest.raises(ValueError, match=r"opts in with `get_prunable_weights\(\)`, which must return "
                                         r"exactly one floating-point variable"):
        prune_low_magnitude(model_with(TwoWeights))
