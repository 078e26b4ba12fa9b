"""`prune_low_magnitude`: selection, scope, nested models, refusals and config round trips."""

import keras
import numpy as np
import pytest

from kerasopt import registry
from kerasopt.compression.pruning import (
    ConstantSparsity,
    PolynomialDecay,
    PruneLowMagnitude,
    UpdatePruning,
    prune_low_magnitude,
    pruning_summary,
    strip_pruning,
)


def conv_model():
    keras.utils.set_random_seed(0)
    inputs = keras.Input((8, 8, 3))
    h = keras.layers.Conv2D(8, 3, name="conv")(inputs)
    h = keras.layers.BatchNormalization(name="bn")(h)
    h = keras.layers.SeparableConv2D(8, 3, name="sep")(h)
    h = keras.layers.GlobalAveragePooling2D(name="pool")(h)
    outputs = keras.layers.Dense(4, name="head")(h)
    return keras.Model(inputs, outputs)


def wrapped_names(model):
    return [layer.layer.name for layer in model.layers if isinstance(layer, PruneLowMagnitude)]


def test_default_selection_wraps_every_supported_layer_and_copies_weights():
    model = conv_model()
    pruned = prune_low_magnitude(model)
    assert wrapped_names(pruned) == ["conv", "sep", "head"]
    assert pruned is not model and not any(isinstance(la, PruneLowMagnitude) for la in model.layers)
    x = np.random.default_rng(0).normal(size=(2, 8, 8, 3)).astype("float32")
    np.testing.assert_allclose(pruned.predict(x, verbose=0), model.predict(x, verbose=0), atol=1e-6)
    schedule = pruned.get_layer("prune_low_magnitude_head").schedule
    assert schedule.get_config() == PolynomialDecay(0.0, 0.5, 0, 1000).get_config()


def test_selection_by_pattern_and_type():
    assert wrapped_names(prune_low_magnitude(conv_model(), layers=["*conv*", "he?d"])) == ["conv", "head"]
    assert wrapped_names(prune_low_magnitude(conv_model(), layer_types=["SeparableConv2D"])) == ["sep"]
    assert wrapped_names(prune_low_magnitude(conv_model(), layers=["*"], layer_types=["Dense"])) == ["head"]


def test_named_unsupported_layer_and_unmatched_pattern_raise():
    with pytest.raises(ValueError, match=r"Layer 'bn' of type .*BatchNormalization cannot be pruned\. "
                                         r"Supported layer types: Dense, EinsumDense"):
        prune_low_magnitude(conv_model(), layers=["conv", "bn"])
    with pytest.raises(ValueError, match=r"`layers` pattern 'dense_\*' matches no layer\. The "
                                         r"model's layers: conv, bn, sep, pool, head"):
        prune_low_magnitude(conv_model(), layers=["dense_*"])
    with pytest.raises(ValueError, match=r"`layer_types` holds 'LSTM', which cannot be pruned"):
        prune_low_magnitude(conv_model(), layer_types=["LSTM"])
    with pytest.raises(ValueError, match=r"`layers` must be None or a non-empty list .* Received: layers='conv'"):
        prune_low_magnitude(conv_model(), layers="conv")
    with pytest.raises(ValueError, match="No layer of model .* was selected"):
        prune_low_magnitude(keras.Sequential([keras.Input((3,)), keras.layers.ReLU()]))


def test_n_m_leaves_unnamed_layers_with_too_few_channels_dense():
    # conv sees 3 input channels: no 2:4 groups, left dense; sep's pointwise sees 8.
    pruned = prune_low_magnitude(conv_model(), structure="n:m")
    assert wrapped_names(pruned) == ["sep", "head"]
    with pytest.raises(ValueError, match=r"layer 'conv' .* has 3 input channels"):
        prune_low_magnitude(conv_model(), structure="n:m", layers=["conv"])


def test_global_scope_ranks_across_layers_unlike_layer_scope():
    # Two kernels of 16 weights: layer `small` holds |w| = 0.01..0.16, `large` holds 1..16.
    model = keras.Sequential([keras.Input((4,)), keras.layers.Dense(4, name="small", use_bias=False),
                              keras.layers.Dense(4, name="large", use_bias=False)])
    values = np.arange(1, 17, dtype="float32").reshape(4, 4) * np.where(np.arange(16) % 2, 1, -1).reshape(4, 4)
    model.get_layer("small").kernel.assign(values / 100)
    model.get_layer("large").kernel.assign(values)
    x, y = np.zeros((1, 4), "float32"), np.zeros((1, 4), "float32")
    results = {}
    for scope in ("layer", "global"):
        pruned = prune_low_magnitude(model, ConstantSparsity(0.5, frequency=1), scope=scope)
        pruned.compile(keras.optimizers.SGD(0.0), "mse")
        pruned.fit(x, y, verbose=0, callbacks=[UpdatePruning()])
        results[scope] = pruning_summary(pruned)
    assert results["layer"] == {"sparsity": 0.5, "layers": {"small": 0.5, "large": 0.5}}
    # One ranking over 32 weights: the 16 smallest are all of `small`.
    assert results["global"] == {"sparsity": 0.5, "layers": {"small": 1.0, "large": 0.0}}


def test_nested_models_are_pruned_and_stripped():
    keras.utils.set_random_seed(0)
    encoder = keras.Sequential([keras.Input((6,)), keras.layers.Dense(8, name="enc_dense")], name="encoder")
    inputs = keras.Input((6,))
    outputs = keras.layers.Dense(2, name="head")(encoder(inputs))
    model = keras.Model(inputs, outputs)
    pruned = prune_low_magnitude(model, ConstantSparsity(0.5, frequency=1), layers=["encoder/*"])
    inner = pruned.get_layer("encoder").layers[0]
    assert isinstance(inner, PruneLowMagnitude) and inner.layer.name == "enc_dense"
    assert not isinstance(pruned.get_layer("head"), PruneLowMagnitude)
    pruned.compile("sgd", "mse")
    x = np.random.default_rng(0).normal(size=(4, 6)).astype("float32")
    pruned.fit(x, np.zeros((4, 2)), verbose=0, callbacks=[UpdatePruning()])
    summary = pruning_summary(pruned)
    assert summary["layers"]["encoder/enc_dense"] == 0.5 and summary["layers"]["head"] == 0.0
    stripped = strip_pruning(pruned)
    assert type(stripped.get_layer("encoder").layers[0]) is keras.layers.Dense
    assert pruning_summary(stripped) == summary
    np.testing.assert_array_equal(stripped.predict(x, verbose=0), pruned.predict(x, verbose=0))


def test_subclassed_models_are_refused():
    class Net(keras.Model):
        def __init__(self):
            super().__init__()
            self.dense = keras.layers.Dense(2)

        def call(self, x):
            return self.dense(x)

    net = Net()
    net(np.zeros((1, 3), "float32"))
    for function in (prune_low_magnitude, strip_pruning):
        with pytest.raises(ValueError, match=r"needs a Sequential or Functional model, whose layers it rebuilds; .* "
                                             r"subclassed model of type .*Net"):
            function(net)


def test_wrapper_config_round_trips_and_registry_names():
    schedule = ConstantSparsity(0.4, begin_step=2, frequency=3)
    wrapper = PruneLowMagnitude(keras.layers.Conv1D(4, 3, name="c"), schedule, structure="block",
                                block_shape=(2, 2), scope="global", name="pruned_c")
    config = wrapper.get_config()
    assert {k: config[k] for k in ("structure", "n", "m", "block_shape", "scope", "name")} == {
        "structure": "block", "n": 2, "m": 4, "block_shape": [2, 2], "scope": "global",
        "name": "pruned_c"}
    rebuilt = PruneLowMagnitude.from_config(config)
    assert rebuilt.get_config() == config
    assert rebuilt.schedule.get_config() == schedule.get_config()
    revived = keras.saving.deserialize_keras_object(keras.saving.serialize_keras_object(wrapper))
    assert revived.get_config() == config
    default = PruneLowMagnitude.from_config(PruneLowMagnitude(keras.layers.Dense(2)).get_config())
    assert default.pruning_schedule is None and default.schedule.get_config()["final_sparsity"] == 0.5
    assert registry.get("layer", "PruneLowMagnitude") is PruneLowMagnitude
    assert registry.get("callback", "update_pruning") is UpdatePruning
    assert registry.get("pruning_schedule", "polynomial_decay") is PolynomialDecay
    assert registry.get("pruning_schedule", "constant_sparsity") is ConstantSparsity
