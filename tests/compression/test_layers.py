"""One rule for which layers pruning, clustering and QAT take: one walk, one selection, exact types or opt in.

tfmot's rule, read from its sources: `prune_registry.PruneRegistry.supports` and
`clustering_registry.ClusteringRegistry.supports` match `layer.__class__` exactly, and a
custom layer opts in with `get_prunable_weights()` / `get_clusterable_weights()`
(`pruning_wrapper_test.testCustomLayerNonPrunable` / `testCustomLayerPrunable`).
"""

import keras
import numpy as np
import pytest

from kerasopt.compression.clustering import ClusteredLayer, cluster_weights, strip_clustering
from kerasopt.compression.layers import walk
from kerasopt.compression.pruning import (
    ConstantSparsity,
    PruneLowMagnitude,
    UpdatePruning,
    prune_low_magnitude,
    pruning_summary,
)
from kerasopt.compression.quantization import calibrate_ranges, quantize_model


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


# --- Issue 21: one meaning of `layers` and `layer_types` for every technique -----------------

def nested():
    """conv1d, then a nested `backbone` holding conv1d_2 and dense_2, then a Dense head."""
    keras.utils.set_random_seed(0)
    inner_in = keras.Input((6, 4))
    y = keras.layers.Conv1D(4, 3, padding="same", name="conv1d_2")(inner_in)
    y = keras.layers.Dense(4, name="dense_2")(y)
    backbone = keras.Model(inner_in, y, name="backbone")
    inputs = keras.Input((6, 2))
    x = backbone(keras.layers.Conv1D(4, 3, padding="same", name="conv1d")(inputs))
    x = keras.layers.Flatten(name="flatten")(x)
    return keras.Model(inputs, keras.layers.Dense(2, name="head")(x), name="net")


def compressed(technique, model, **selection):
    """The names of the layers a technique wrapped, read from the wrappers, nested models included."""
    make = {"pruning": lambda m: prune_low_magnitude(m, ConstantSparsity(0.5, frequency=1), **selection),
            "clustering": lambda m: cluster_weights(m, 3, **selection),
            "qat": lambda m: quantize_model(m, **selection)}[technique]
    return sorted(name for name, layer in walk(make(model)) if isinstance(layer, keras.layers.Wrapper)
                  for name in [name.rsplit("/", 1)[0] + "/" + layer.layer.name if "/" in name
                               else layer.layer.name])


def test_walk_gives_qualified_names_in_one_order_without_input_layers():
    assert [name for name, _ in walk(nested())] == [
        "conv1d", "backbone/conv1d_2", "backbone/dense_2", "flatten", "head"]


@pytest.mark.parametrize("technique", ["pruning", "clustering", "qat"])
@pytest.mark.parametrize("selection, expected", [
    ({"layers": ["conv1d*"]}, ["backbone/conv1d_2", "conv1d"]),  # the name matches
    ({"layers": ["backbone/*"]}, ["backbone/conv1d_2", "backbone/dense_2"]),  # the qualified name matches
    ({"layer_types": ["Conv1D"]}, ["backbone/conv1d_2", "conv1d"]),
    ({"layers": ["*_2"], "layer_types": ["Dense"]}, ["backbone/dense_2"]),  # both must match
    ({"layers": ["*"]}, ["backbone/conv1d_2", "backbone/dense_2", "conv1d", "head"]),  # flatten skipped
])
def test_layers_and_layer_types_mean_the_same_for_every_technique(technique, selection, expected):
    # Before issue 21: clustering and QAT read `layers` as exact names (conv1d* matched
    # nothing), clustering refused both keys together and QAT took their union.
    assert compressed(technique, nested(), **selection) == expected


@pytest.mark.parametrize("technique", ["pruning", "clustering", "qat"])
def test_a_pattern_or_type_that_selects_nothing_is_an_error_naming_it(technique):
    with pytest.raises(ValueError, match=r"`layers` pattern 'conv2d\*' matches no layer\. The model's layers: "
                                         r"conv1d, backbone/conv1d_2, backbone/dense_2, flatten, head\. "
                                         r"Did you mean 'conv1d'"):
        compressed(technique, nested(), layers=["conv2d*"])
    with pytest.raises(ValueError, match=r"`layer_types` holds 'Conv9D', which is not a Keras or registered "
                                         r"layer class\. Did you mean .*'Conv1D'"):
        compressed(technique, nested(), layer_types=["Conv9D"])
    with pytest.raises(ValueError, match=r"`layers` pattern 'flat\*' selects only layers that cannot be|"
                                         r"Layer 'flatten'"):
        compressed(technique, nested(), layers=["flat*"])


class QuantizableDense(keras.layers.Dense):
    """A Dense subclass whose `call` is Dense's: it opts in to QAT as a Dense."""

    def quantizable_as(self):
        return keras.layers.Dense


class ScaledDense(MyDense):
    """Claims to compute as a Dense, but scales its output: QAT must refuse it."""

    def quantizable_as(self):
        return keras.layers.Dense


def test_a_custom_layer_opts_in_to_qat_and_a_false_claim_is_refused():
    model = model_with(QuantizableDense)
    qat = quantize_model(model)
    wrapped = qat.get_layer("quantize_custom")
    assert type(wrapped.layer) is QuantizableDense and wrapped.computation is keras.layers.Dense
    x = np.random.default_rng(0).normal(size=(16, 6)).astype("float32")
    calibrate_ranges(qat, x)
    # int8 simulation of the custom layer and the plain Dense after it: close to the float model.
    np.testing.assert_allclose(qat.predict(x, verbose=0), model.predict(x, verbose=0), atol=0.05)
    with pytest.raises(ValueError, match=r"Layer 'custom' .*ScaledDense\) opts in to QAT as Dense with "
                                         r"`quantizable_as\(\)`, but its `call` computes something else"):
        quantize_model(model_with(ScaledDense))
    with pytest.raises(ValueError, match=r"Layer 'custom' is a MyDense, which QAT cannot quantize"):
        quantize_model(model_with(MyDense), layers=["custom"])
