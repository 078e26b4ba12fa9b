"""ClusteredLayer: clustering at build, the cluster-mean constraint, config and refusals."""

import keras
import numpy as np
import pytest
import tensorflow as tf

from kerasopt import registry
from kerasopt.compression.clustering import ClusteredLayer, ClusterMeanConstraint, kmeans_1d
from kerasopt.compression.masking import MaskConstraint


def to_np(x):
    return keras.ops.convert_to_numpy(x)


def built_dense(units=6, inputs=10, zero_fraction=0.0, seed=0):
    rng = np.random.default_rng(seed)
    layer = keras.layers.Dense(units)
    layer.build((None, inputs))
    kernel = rng.normal(0, 0.3, (inputs, units)).astype("float32")
    kernel[rng.random(kernel.shape) < zero_fraction] = 0.0
    layer.kernel.assign(kernel)
    return layer, kernel


def test_build_writes_the_kmeans_centroids_into_the_kernel():
    layer, kernel = built_dense()
    wrapper = ClusteredLayer(layer, 4, init="linear", preserve_sparsity=False)
    wrapper.build((None, 10))
    centroids, labels = kmeans_1d(kernel, 4, init="linear")
    np.testing.assert_array_equal(to_np(wrapper.cluster_indices).ravel(), labels)
    np.testing.assert_array_equal(to_np(layer.kernel),
                                  centroids[labels].astype("float32").reshape(kernel.shape))
    assert wrapper.sparsity_mask is None
    assert isinstance(layer.kernel.constraint, ClusterMeanConstraint)


def test_zeros_are_a_fixed_cluster_outside_the_kmeans():
    layer, kernel = built_dense(zero_fraction=0.4)
    wrapper = ClusteredLayer(layer, 3, seed=1)
    wrapper.build((None, 10))
    nonzero = kernel != 0
    centroids, labels = kmeans_1d(kernel[nonzero], 3, seed=1)
    indices = to_np(wrapper.cluster_indices)
    np.testing.assert_array_equal(indices[~nonzero], 3)
    np.testing.assert_array_equal(indices[nonzero], labels)
    np.testing.assert_array_equal(to_np(wrapper.sparsity_mask), nonzero.astype("float32"))
    out = to_np(layer.kernel)
    np.testing.assert_array_equal(out[~nonzero], 0.0)
    np.testing.assert_array_equal(out[nonzero], centroids[labels].astype("float32"))
    assert isinstance(layer.kernel.constraint, MaskConstraint)
    assert isinstance(layer.kernel.constraint.previous, ClusterMeanConstraint)


def test_constraint_moves_each_shared_value_by_the_mean_update_of_its_members():
    indices = np.array([[0, 1, 2], [1, 0, 2], [0, 0, 1]], "int32")
    shared = np.array([-1.0, 0.5, 2.0, 0.0])
    update = np.arange(9, dtype="float32").reshape(3, 3) / 10
    w = shared[indices] + update
    out = to_np(ClusterMeanConstraint(keras.Variable(indices), 3)(w))
    expected = np.array([shared[j] + update[indices == j].mean() for j in range(3)])
    np.testing.assert_allclose(out, expected[indices], rtol=1e-6)
    # Entries of index k enter no mean; with NonNeg as the earlier constraint it runs first.
    indices[2, 2] = 3
    out = to_np(ClusterMeanConstraint(keras.Variable(indices), 3,
                                      keras.constraints.NonNeg())(w - 1.0))
    clipped = np.maximum(w - 1.0, 0.0)
    np.testing.assert_allclose(out[0, 2], clipped[indices == 2].mean(), rtol=1e-6)
    np.testing.assert_allclose(out[1, 1], clipped[indices == 0].mean(), rtol=1e-6)


def test_one_sgd_step_matches_the_mean_gradient_of_each_cluster():
    layer, _ = built_dense(zero_fraction=0.3, seed=2)
    wrapper = ClusteredLayer(layer, 4)
    wrapper.build((None, 10))
    before = to_np(layer.kernel)
    indices = to_np(wrapper.cluster_indices)
    x = np.random.default_rng(3).normal(size=(16, 10)).astype("float32")
    with tf.GradientTape() as tape:
        loss = keras.ops.sum(wrapper(x) ** 2)
    grads = tape.gradient(loss, wrapper.trainable_variables)
    keras.optimizers.SGD(0.01).apply(grads, wrapper.trainable_variables)
    kernel_grad = to_np(grads[[v is layer.kernel for v in wrapper.trainable_variables].index(True)])
    expected = before.copy()
    for j in range(4):
        members = indices == j
        expected[members] = before[members][0] - 0.01 * kernel_grad[members].mean()
    np.testing.assert_allclose(to_np(layer.kernel), expected, rtol=1e-5, atol=1e-7)
    np.testing.assert_array_equal(to_np(layer.kernel)[indices == 4], 0.0)


SUPPORTED_CASES = [
    (lambda: keras.layers.Dense(3), (5,)),
    (lambda: keras.layers.EinsumDense("ab,bc->ac", output_shape=3), (5,)),
    (lambda: keras.layers.Conv1D(2, 3), (6, 2)),
    (lambda: keras.layers.Conv2D(2, 3), (6, 6, 2)),
    (lambda: keras.layers.Conv3D(2, 2), (4, 4, 4, 1)),
    (lambda: keras.layers.Conv1DTranspose(2, 3), (6, 2)),
    (lambda: keras.layers.Conv2DTranspose(2, 3), (5, 5, 2)),
    (lambda: keras.layers.Conv3DTranspose(2, 2), (3, 3, 3, 1)),
    (lambda: keras.layers.DepthwiseConv1D(3), (6, 2)),
    (lambda: keras.layers.DepthwiseConv2D(3), (6, 6, 2)),
]


def test_every_supported_type_has_a_case():
    from kerasopt.compression.clustering import SUPPORTED_LAYER_TYPES

    assert sorted(type(make()).__name__ for make, _ in SUPPORTED_CASES) == sorted(
        t.__name__ for t in SUPPORTED_LAYER_TYPES)


@pytest.mark.parametrize("make, shape", SUPPORTED_CASES,
                         ids=[type(make()).__name__ for make, _ in SUPPORTED_CASES])
def test_every_supported_type_trains_with_shared_kernel_values(make, shape):
    x = np.random.default_rng(0).normal(size=(2, *shape)).astype("float32")
    wrapper = ClusteredLayer(make(), 3, preserve_sparsity=False)
    out = to_np(wrapper(x))
    kernel = wrapper.layer.kernel
    assert np.unique(to_np(kernel)).size == 3
    plain = make()
    plain(x)
    plain.set_weights(wrapper.layer.get_weights())
    np.testing.assert_allclose(out, to_np(plain(x)), rtol=1e-6, atol=1e-6)
    before = to_np(kernel)
    with tf.GradientTape() as tape:
        loss = keras.ops.sum(wrapper(x) ** 2)
    grads = tape.gradient(loss, wrapper.trainable_variables)
    keras.optimizers.SGD(0.01, momentum=0.9).apply(grads, wrapper.trainable_variables)
    assert not np.array_equal(to_np(kernel), before)
    assert np.unique(to_np(kernel)).size <= 3


@pytest.mark.slow
def test_sharing_holds_under_xla():
    model = keras.Sequential([keras.Input((10,)), ClusteredLayer(keras.layers.Dense(4), 3)])
    model.compile(keras.optimizers.Adam(0.05), "mse", jit_compile=True)
    rng = np.random.default_rng(0)
    start = to_np(model.layers[0].layer.kernel)
    model.fit(rng.normal(size=(32, 10)), rng.normal(size=(32, 4)), batch_size=8, verbose=0)
    kernel = to_np(model.layers[0].layer.kernel)
    assert np.unique(kernel).size <= 3
    assert not np.array_equal(kernel, start)


def test_get_config_round_trips_three_ways():
    wrapper = ClusteredLayer(keras.layers.Conv2D(3, 2), 8, init="linear",
                             preserve_sparsity=False, seed=4, name="c")
    config = wrapper.get_config()
    assert {k: config[k] for k in ("number_of_clusters", "init", "preserve_sparsity", "seed")} == {
        "number_of_clusters": 8, "init": "linear", "preserve_sparsity": False, "seed": 4}
    assert ClusteredLayer.from_config(wrapper.get_config()).get_config() == config
    restored = keras.saving.deserialize_keras_object(keras.saving.serialize_keras_object(wrapper))
    assert isinstance(restored, ClusteredLayer) and restored.get_config() == config
    assert registry.get("layer", "clustered_layer") is ClusteredLayer
    built = registry.build("layer", {"type": "ClusteredLayer", "layer": keras.layers.Dense(2),
                                     "number_of_clusters": 5})
    assert built.number_of_clusters == 5


@pytest.mark.parametrize("layer", [keras.layers.Embedding(10, 4), keras.layers.SeparableConv2D(2, 3),
                                   type("MyDense", (keras.layers.Dense,), {})(3)])
def test_unsupported_layers_are_refused_with_the_supported_list(layer):
    with pytest.raises(ValueError, match=rf"Layer '{layer.name}' .* cannot be clustered\. "
                                         r"Supported layer types: Dense, EinsumDense, Conv1D"):
        ClusteredLayer(layer)


def test_lora_kernel_is_refused_at_build():
    layer = keras.layers.Dense(3)
    layer.build((None, 4))
    layer.enable_lora(2)
    with pytest.raises(ValueError, match="no floating-point kernel variable to cluster"):
        ClusteredLayer(layer).build((None, 4))


@pytest.mark.parametrize("kwargs, match", [
    ({"number_of_clusters": 1}, r"`number_of_clusters` must be an integer >= 2\. Received: number_of_clusters=1"),
    ({"init": "density"}, r"`init` must be one of 'linear', 'kmeans\+\+'\. Received: init='density'"),
    ({"preserve_sparsity": "yes"}, "Received: preserve_sparsity='yes'"),
    ({"seed": 1.5}, "Received: seed=1.5"),
])
def test_invalid_arguments(kwargs, match):
    with pytest.raises(ValueError, match=match):
        ClusteredLayer(keras.layers.Dense(2), **kwargs)
