"""cluster_weights / strip_clustering / clustering_summary on whole models, through fit and saving."""

import gzip
import re
from pathlib import Path

import keras
import numpy as np
import pytest
import tensorflow as tf

from kerasopt.compression.clustering import (
    ClusteredLayer,
    cluster_weights,
    clustering_summary,
    strip_clustering,
)

README = Path(__file__).parents[3] / "kerasopt" / "compression" / "clustering" / "README.md"


def to_np(x):
    return keras.ops.convert_to_numpy(x)


def mlp(zero_fraction=0.5, seed=0):
    """A tiny MLP whose first kernel is pruned to `zero_fraction` zeros."""
    keras.utils.set_random_seed(seed)
    model = keras.Sequential([keras.Input((12,)), keras.layers.Dense(16, activation="relu", name="hidden"),
                              keras.layers.BatchNormalization(name="norm"),
                              keras.layers.Dense(3, name="out")], name="mlp")
    kernel = model.layers[0].kernel
    mask = np.random.default_rng(seed).random(kernel.shape) >= zero_fraction
    kernel.assign(to_np(kernel) * mask)
    return model


def cnn():
    """Functional model with every convolution type and a nested Sequential."""
    keras.utils.set_random_seed(1)
    inputs = keras.Input((8, 8, 2))
    x = keras.layers.Conv2D(4, 3, name="conv")(inputs)
    x = keras.layers.DepthwiseConv2D(3, name="depthwise")(x)
    x = keras.layers.Reshape((16, 4))(x)
    x = keras.layers.Conv1D(3, 2, name="conv1d")(x)
    x = keras.layers.Flatten(name="flatten")(x)
    head = keras.Sequential([keras.Input((45,)), keras.layers.Dense(5, name="inner")], name="head")
    return keras.Model(inputs, head(x), name="cnn")


def _wrappers(model):
    for layer in model.layers:
        if isinstance(layer, keras.Sequential):
            yield from _wrappers(layer)
        elif isinstance(layer, ClusteredLayer):
            yield layer


def kernels(model):
    return {layer.layer.name: to_np(layer.layer.kernel) for layer in _wrappers(model)}


def data(shape, outputs, n=40):
    rng = np.random.default_rng(5)
    return rng.normal(size=(n, *shape)).astype("float32"), rng.normal(size=(n, outputs)).astype("float32")


def predict(model, x):
    return to_np(model(x, training=False))


def eager_steps(model, optimizer, steps=3):
    """A few optimizer steps outside `fit` (no tracing), on the test data."""
    x, y = data((12,), 3)
    for i in range(steps):
        with tf.GradientTape() as tape:
            loss = keras.ops.mean((model(x[i::steps], training=True) - y[i::steps]) ** 2)
        grads = tape.gradient(loss, model.trainable_variables)
        optimizer.apply(grads, model.trainable_variables)


def assert_shared(kernel, indices, k, zeros=None):
    """At most k nonzero values, one per cluster, and exactly the given zeros."""
    if zeros is not None:
        np.testing.assert_array_equal(kernel == 0, zeros)
    for j in np.unique(indices[indices < k]):
        assert np.unique(kernel[indices == j]).size == 1
    assert np.unique(kernel[kernel != 0]).size <= k


OPTIMIZERS = {"sgd_momentum": lambda: keras.optimizers.SGD(0.05, momentum=0.9),
              "adam": lambda: keras.optimizers.Adam(0.01)}


@pytest.fixture(scope="module", params=sorted(OPTIMIZERS))
def trained(request):
    """An MLP with a pruned first kernel, clustered to k=4 and fitted for 20 steps."""
    model = mlp()
    original = [to_np(w) for w in model.weights]
    clustered = cluster_weights(model, 4)
    start = kernels(clustered)
    clustered.compile(OPTIMIZERS[request.param](), "mse")
    x, y = data((12,), 3)
    clustered.fit(x, y, batch_size=2, verbose=0)  # 20 steps
    return {"model": model, "original": original, "start": start, "clustered": clustered,
            "zeros": original[0] == 0}


def test_fit_keeps_k_values_and_the_zeros(trained):
    clustered = trained["clustered"]
    for w, before in zip(trained["model"].weights, trained["original"], strict=True):
        np.testing.assert_array_equal(to_np(w), before)  # the input model is untouched
    wrappers = {w.layer.name: w for w in _wrappers(clustered)}
    assert sorted(wrappers) == ["hidden", "out"]
    for name, kernel in kernels(clustered).items():
        assert not np.array_equal(kernel, trained["start"][name])  # the shared values trained
        zeros = trained["zeros"] if name == "hidden" else np.zeros_like(kernel, bool)
        assert_shared(kernel, to_np(wrappers[name].cluster_indices), 4, zeros)
    assert clustering_summary(clustered) == {"layers": {
        "hidden": {"clusters": 4, "unique_values": 5}, "out": {"clusters": 4, "unique_values": 4}}}


def test_strip_gives_plain_layers_and_identical_predictions(trained):
    clustered = trained["clustered"]
    stripped = strip_clustering(clustered)
    assert [type(layer).__name__ for layer in stripped.layers] == ["Dense", "BatchNormalization", "Dense"]
    assert [layer.name for layer in stripped.layers] == ["hidden", "norm", "out"]
    x, _ = data((12,), 3)
    np.testing.assert_array_equal(predict(stripped, x), predict(clustered, x))
    np.testing.assert_array_equal(to_np(stripped.layers[1].moving_variance),
                                  to_np(clustered.layers[1].moving_variance))
    assert np.unique(to_np(stripped.layers[0].kernel)).size == 5  # 4 shared values and 0
    assert np.unique(to_np(stripped.layers[2].kernel)).size == 4


def test_functional_model_with_nested_sequential_and_convolutions():
    model = cnn()
    x, _ = data((8, 8, 2), 5, n=4)
    x = keras.ops.convert_to_tensor(x)
    clustered = cluster_weights(model, 3, init="linear")
    assert sorted(kernels(clustered)) == ["conv", "conv1d", "depthwise", "inner"]
    # The wrapped model computes what the original computes with the clustered kernels.
    reference = keras.models.clone_model(model)
    reference.set_weights(model.get_weights())
    for name, kernel in kernels(clustered).items():
        layer = reference.get_layer("head").get_layer(name) if name == "inner" else reference.get_layer(name)
        layer.kernel.assign(kernel)
        assert np.unique(kernel).size <= 3
    np.testing.assert_allclose(predict(clustered, x), predict(reference, x), rtol=1e-5, atol=1e-6)
    np.testing.assert_array_equal(predict(strip_clustering(clustered), x), predict(clustered, x))


def test_layers_and_layer_types_choose_what_is_clustered():
    assert sorted(kernels(cluster_weights(cnn(), 3, layers=["inner", "conv1d"]))) == ["conv1d", "inner"]
    assert sorted(kernels(cluster_weights(cnn(), 3, layer_types=["Conv2D", keras.layers.Dense]))) == [
        "conv", "inner"]
    # Issue 21: patterns (on the name and the qualified name), and both must match when both are given.
    assert sorted(kernels(cluster_weights(cnn(), 3, layers=["conv*"]))) == ["conv", "conv1d"]
    assert sorted(kernels(cluster_weights(cnn(), 3, layers=["head/*"]))) == ["inner"]
    assert sorted(kernels(cluster_weights(cnn(), 3, layers=["*"], layer_types=["Conv1D"]))) == ["conv1d"]


def test_keras_file_round_trip_keeps_the_clustering(trained, tmp_path):
    clustered = trained["clustered"]
    path = tmp_path / "clustered.keras"
    clustered.save(path)
    loaded = keras.saving.load_model(path, safe_mode=True)
    for a, b in zip(_wrappers(clustered), _wrappers(loaded), strict=True):
        np.testing.assert_array_equal(to_np(a.cluster_indices), to_np(b.cluster_indices))
        np.testing.assert_array_equal(to_np(a.sparsity_mask), to_np(b.sparsity_mask))
    x, _ = data((12,), 3)
    np.testing.assert_array_equal(predict(loaded, x), predict(clustered, x))
    eager_steps(loaded, keras.optimizers.Adam(0.01))  # the reloaded layers keep sharing
    for wrapper in _wrappers(loaded):
        zeros = trained["zeros"] if wrapper.layer.name == "hidden" else None
        assert_shared(to_np(wrapper.layer.kernel), to_np(wrapper.cluster_indices), 4, zeros)


def test_load_weights_brings_the_assignments(trained, tmp_path):
    source = trained["clustered"]
    target = cluster_weights(mlp(), 4, init="linear")
    assert not np.array_equal(to_np(source.layers[0].cluster_indices),
                              to_np(target.layers[0].cluster_indices))
    source.save_weights(tmp_path / "w.weights.h5")
    target.load_weights(tmp_path / "w.weights.h5")
    np.testing.assert_array_equal(to_np(target.layers[0].cluster_indices),
                                  to_np(source.layers[0].cluster_indices))
    before = to_np(target.layers[0].layer.kernel)
    eager_steps(target, keras.optimizers.SGD(0.05, momentum=0.9))
    assert not np.array_equal(to_np(target.layers[0].layer.kernel), before)
    for wrapper in _wrappers(target):
        assert_shared(to_np(wrapper.layer.kernel), to_np(wrapper.cluster_indices), 4)


def test_the_partition_is_recoverable_from_the_stripped_kernels(trained):
    clustered = trained["clustered"]
    again = cluster_weights(strip_clustering(clustered), 4, seed=3)
    for a, b in zip(_wrappers(clustered), _wrappers(again), strict=True):
        np.testing.assert_array_equal(to_np(b.layer.kernel), to_np(a.layer.kernel))
        # Same partition; the numbering follows the centroids' order, which training may swap.
        pairs = set(zip(to_np(a.cluster_indices).ravel(), to_np(b.cluster_indices).ravel(), strict=True))
        assert len(pairs) == len({p[0] for p in pairs}) == len({p[1] for p in pairs})


def test_clustered_kernel_compresses_better_under_gzip():
    keras.utils.set_random_seed(0)
    model = keras.Sequential([keras.Input((256,)), keras.layers.Dense(128)])
    raw = to_np(model.layers[0].kernel)
    shared = to_np(strip_clustering(cluster_weights(model, 16)).layers[0].kernel)
    raw_gzip, shared_gzip = (len(gzip.compress(a.tobytes(), 9)) for a in (raw, shared))
    # Measured with seeds 0-2: 131,072 raw bytes, ~116,450 gzipped unclustered (random
    # float32 mantissas barely compress), ~24,400 clustered: a ratio of 4.73-4.78. An ideal
    # coder would reach 8x (4 bits of entropy for 16 values per 32-bit weight); gzip's
    # byte-oriented LZ77 gets less. The bound is loose so that zlib versions and other
    # kernels pass, while an unshared kernel (ratio ~1) cannot.
    assert raw_gzip > 0.85 * raw.nbytes
    assert raw_gzip / shared_gzip > 3.5, (raw_gzip, shared_gzip)


def test_summary_and_strip_refuse_or_pass_through_plain_models():
    model = mlp()
    with pytest.raises(ValueError, match="has no clustered layer"):
        clustering_summary(model)
    x, _ = data((12,), 3)
    np.testing.assert_array_equal(predict(strip_clustering(model), x), predict(model, x))


class Subclassed(keras.Model):
    def __init__(self):
        super().__init__()
        self.dense = keras.layers.Dense(2)

    def call(self, x):
        return self.dense(x)


@pytest.mark.parametrize("make, kwargs, match", [
    (mlp, {"number_of_clusters": 1}, r"`number_of_clusters` must be an integer >= 2\. Received: number_of_clusters=1"),
    (mlp, {"init": "random"}, r"`init` must be one of 'linear', 'kmeans\+\+'\. Received: init='random'"),
    (mlp, {"preserve_sparsity": 1}, "Received: preserve_sparsity=1"),
    (mlp, {"layers": ["hidden", "nope"]}, r"`layers` pattern 'nope' matches no layer\. The model's layers: hidden, norm, out\."),
    (mlp, {"layers": ["norm"]},
     r"Layer 'norm' \(.*BatchNormalization\) cannot be clustered\. Supported layer types: Dense"),
    (mlp, {"layers": "hidden"}, "`layers` must be None or a non-empty list of non-empty strings"),
    (mlp, {"layer_types": ["Embedding"]},
     r"`layer_types` holds 'Embedding', which cannot be clustered\. Supported layer types: Dense.*Received: layer_types=\['Embedding'\]"),
    (mlp, {"layer_types": ["Conv9D"]}, r"'Conv9D', which is not a Keras or registered layer class\. Did you mean .*'Conv1D'"),
    (lambda: keras.Sequential([keras.Input((3,)), keras.layers.Flatten()]), {}, "has no layer to cluster"),
    (lambda: keras.Sequential([keras.layers.Dense(2)]), {}, "needs a built model"),
    (lambda: cluster_weights(mlp()), {}, r"already clustered \(layers \['cluster_hidden', 'cluster_out'\]\)"),
    (lambda: keras.layers.Dense(2), {}, r"needs a keras.Model \(Keras 3\)\. Received an object of type keras\.src"),
])
def test_errors(make, kwargs, match):
    with pytest.raises(ValueError, match=match):
        cluster_weights(make(), **kwargs)


def test_subclassed_model_is_refused():
    model = Subclassed()
    model(np.ones((1, 3), "float32"))
    with pytest.raises(ValueError, match=r"needs a Sequential or Functional model.*subclassed model"):
        cluster_weights(model)


@pytest.mark.slow
def test_readme_example_runs():
    blocks = re.findall(r"```python\n(.*?)```", README.read_text(), flags=re.S)
    assert blocks
    for block in blocks:
        exec(compile(block, str(README), "exec"), {})  # noqa: S102


def test_the_clustering_technique_strips_a_copy_for_a_teacher_and_leaves_the_model_wrapped():
    # Technique.strip: what `state.unwrapped_model()` (distillation's teacher) applies.
    from kerasopt.recipe.run.techniques.clustering import WeightClustering

    technique = WeightClustering()
    model = mlp()
    assert technique.strip(model) is model  # nothing wrapped yet
    clustered = cluster_weights(model, 4)
    technique.wrapped = True
    plain = technique.strip(clustered)
    assert not any(isinstance(layer, ClusteredLayer) for layer in plain.layers)
    assert sum(isinstance(layer, ClusteredLayer) for layer in clustered.layers) == 2  # left as it was
    x = np.random.default_rng(0).normal(size=(5, 12)).astype("float32")
    np.testing.assert_allclose(to_np(plain(x)), to_np(clustered(x)), atol=1e-6)
    assert len(np.unique(to_np(plain.get_layer("hidden").kernel))) <= 4 + 1  # 4 shared values and the zeros
