"""The clone behind pruning, clustering and QAT: names kept, subclassed models refused, no compile."""

import keras
import numpy as np
import pytest

from kerasopt.compression.clustering import cluster_weights, strip_clustering
from kerasopt.compression.pruning import ConstantSparsity, prune_low_magnitude, strip_pruning
from kerasopt.compression.quantization import quantize_model


def functional(nested=True):
    """Two inputs (one named, one with Keras's default name) and a nested Functional model."""
    keras.utils.set_random_seed(0)
    pixels = keras.Input((6,), name="pixels")
    extra = keras.Input((4,))  # default name: input_layer[_N]
    inner_in = keras.Input((8,), name="inner_in")
    inner = keras.Model(inner_in, keras.layers.Dense(4, name="inner_dense")(inner_in), name="inner")
    x = keras.layers.Dense(8, activation="relu", name="hidden")(pixels)
    x = inner(x) if nested else keras.layers.Dense(4, name="inner_dense")(x)
    x = keras.layers.Concatenate(name="join")([x, extra])
    return keras.Model([pixels, extra], keras.layers.Dense(3, name="out")(x), name="net")


@pytest.mark.parametrize("nested", [False, True])
@pytest.mark.parametrize("technique", ["pruning", "clustering"])
def test_strip_gives_back_the_original_config(technique, nested):
    model = functional(nested)
    if technique == "pruning":
        stripped = strip_pruning(prune_low_magnitude(model, ConstantSparsity(0.5, frequency=1)))
    else:
        stripped = strip_clustering(cluster_weights(model, 4))
    # Before the fix: input layers were renamed after their tensors ('keras_tensor_12').
    assert [layer.name for layer in stripped.layers] == [layer.name for layer in model.layers]
    assert stripped.get_config()["input_layers"] == model.get_config()["input_layers"]
    assert stripped.get_config() == model.get_config()
    x = [np.ones((2, 6), "float32"), np.ones((2, 4), "float32")]
    assert stripped.predict(x, verbose=0).shape == (2, 3)


class Subclassed(keras.Model):
    def __init__(self, **kwargs):
        super().__init__(**kwargs)
        self.dense = keras.layers.Dense(4)

    def call(self, x):
        return self.dense(x)


def holding_a_subclassed_model():
    inputs = keras.Input((3,))
    inner = Subclassed(name="custom")
    x = inner(keras.layers.Dense(3, name="first")(inputs))
    return keras.Model(inputs, keras.layers.Dense(2, name="head")(x))


@pytest.mark.parametrize("function", [cluster_weights, prune_low_magnitude])
def test_a_nested_subclassed_model_is_refused_with_a_value_error(function):
    # Before the fix cluster_weights raised TypeError from keras.models.clone_model.
    with pytest.raises(ValueError, match=r"needs a Sequential or Functional model, whose layers it "
                                         r"rebuilds; 'custom' \(nested in model .*\) is a subclassed "
                                         r"model of type .*Subclassed"):
        function(holding_a_subclassed_model())


@pytest.mark.parametrize("nested", [False, True])
def test_quantize_model_returns_an_uncompiled_model(nested):
    # tfmot's quantize_test asserts the same: the annotated/quantized model's optimizer is None.
    model = functional(nested)
    model.compile(keras.optimizers.Adam(0.5), "mse")
    qat = quantize_model(model)
    assert not qat.compiled and getattr(qat, "optimizer", None) is None
    # fold_batch_norms (its own clone, fixed elsewhere) renames inputs; quantize_model's own doesn't.
    unfolded = quantize_model(model, fold_batch_norm=False)
    assert unfolded.get_config()["input_layers"] == model.get_config()["input_layers"]
    assert not unfolded.compiled
    qat.compile("sgd", "mse")  # the caller's compile is the only one
    assert isinstance(qat.optimizer, keras.optimizers.SGD)
    sequential = keras.Sequential([keras.Input((5,)), keras.layers.Dense(2)])
    sequential.compile("adam", "mse")
    assert not quantize_model(sequential).compiled


@pytest.mark.parametrize("technique", ["clustering", "qat"])
def test_zeros_held_by_a_mask_stay_zero_in_layers_a_later_technique_does_not_select(technique):
    """A pruned layer that the next stage leaves alone keeps its zeros through that stage's training."""
    from kerasopt.compression.clustering import cluster_weights
    from kerasopt.compression.masking import attach_mask
    from kerasopt.compression.quantization import quantize_model

    keras.utils.set_random_seed(0)
    model = keras.Sequential([keras.Input((8,)), keras.layers.Dense(16, name="pruned"),
                              keras.layers.Dense(3, name="head")])
    kernel = model.get_layer("pruned").kernel
    mask = (np.arange(8 * 16).reshape(8, 16) % 2).astype("float32")  # half the entries zero
    attach_mask(kernel, keras.Variable(mask, trainable=False))
    if technique == "clustering":
        later = cluster_weights(model, 4, layers=["head"])
    else:
        later = quantize_model(model, layers=["head"])
    later.compile(optimizer=keras.optimizers.Adam(0.05), loss="mse")
    x = np.random.default_rng(0).normal(size=(64, 8)).astype("float32")
    later.fit(x, np.ones((64, 3), "float32"), epochs=2, batch_size=16, verbose=0)
    copied = next(layer for layer in later.layers if layer.name == "pruned").kernel
    values = keras.ops.convert_to_numpy(copied)
    assert np.all(values[mask == 0] == 0)  # exactly zero after 8 Adam steps
    assert np.count_nonzero(values[mask == 1]) == int(mask.sum())
