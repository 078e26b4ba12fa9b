"""Channel pruning (issue 22, item 3): the dependency graph, the kept counts and the rebuilt model's numbers."""

from __future__ import annotations

import keras
import numpy as np
import pytest

from kerasopt.compression.channel_pruning import (
    apply_plan,
    kept_count,
    plan_channels,
    prune_channels,
)
from kerasopt.models.build import build_model

L = keras.layers


def _randomize_batch_norms(model, seed=0):
    """Non-trivial moving statistics, scales and offsets, so that slicing them matters."""
    rng = np.random.default_rng(seed)
    for layer in model.layers:
        if isinstance(layer, L.BatchNormalization):
            n = layer.gamma.shape[0]
            layer.set_weights([rng.uniform(0.5, 1.5, n), rng.normal(size=n), rng.normal(size=n),
                               rng.uniform(0.5, 2.0, n)])


def _dyadic(model, seed=3):
    """Weights in quarters and BN statistics with `variance + epsilon == 1`: every sum the model
    computes is then exact in float32, whatever order a kernel adds in, so removing zero terms
    leaves the outputs bit for bit the same."""
    rng = np.random.default_rng(seed)
    for layer in model.layers:
        weights = [rng.integers(-2, 3, size=w.shape).astype("float32") / 4 for w in layer.get_weights()]
        if isinstance(layer, L.BatchNormalization):
            weights[3] = np.full(weights[3].shape, np.float32(1.0) - np.float32(layer.epsilon), "float32")
            assert (weights[3] + np.float32(layer.epsilon) == 1.0).all()
        layer.set_weights(weights)


def _coupled_model():
    """Residual Add of two BN branches, a DepthwiseConv and a Conv concatenated, Flatten -> Dense."""
    x = keras.Input((6, 3), name="x")
    a = L.ReLU(name="a_relu")(L.BatchNormalization(name="a_bn")(L.Conv1D(8, 3, padding="same", name="a")(x)))
    b = L.BatchNormalization(name="b_bn")(L.Conv1D(8, 1, name="b")(x))
    s = L.Activation("relu", name="out")(L.Add(name="add")([a, b]))
    d = L.DepthwiseConv1D(3, padding="same", name="dw")(s)
    c = L.Conv1D(4, 1, name="c")(s)
    f = L.Flatten(name="flat")(L.Concatenate(name="cat")([d, c]))  # 6 steps x 12 channels
    h = L.Dense(5, name="hidden")(f)
    model = keras.Model(x, L.Dense(3, name="head")(h))
    _randomize_batch_norms(model)
    return model


def _zero(model, layer, channels):
    """Zero the given channels of a layer: kernel columns (a depthwise kernel's channels) and bias;
    BN's gamma and beta."""
    layer = model.get_layer(layer)
    weights = layer.get_weights()
    if isinstance(layer, L.BatchNormalization):
        weights[0][channels] = 0.0
    elif isinstance(layer, L.DepthwiseConv1D):
        weights[0][:, channels, :] = 0.0
    else:
        weights[0][..., channels] = 0.0
    weights[1][channels] = 0.0
    layer.set_weights(weights)


def _outputs(model, x):
    return keras.ops.convert_to_numpy(model(x, training=False))


@pytest.mark.parametrize("input_shape", [(8, 8, 1), (16, 2)], ids=["conv2d", "conv1d"])
def test_ratio_zero_rebuilds_the_built_in_resnet_with_equal_outputs(input_shape):
    model = build_model({"architecture": "resnet", "filters": 4, "blocks_per_stage": [1, 1]},
                        input_shape=input_shape, num_classes=3)
    _randomize_batch_norms(model)
    x = np.random.default_rng(1).normal(size=(5, *input_shape)).astype("float32")
    same, plan = prune_channels(model, 0.0)
    np.testing.assert_array_equal(_outputs(same, x), _outputs(model, x))
    assert same.count_params() == model.count_params()
    # The residual groups: the stem is added to stage 1's conv2; stage 2's projection to its conv2.
    groups = {g.name: sorted(g.sources) for g in plan.groups}
    assert groups == {"stem_conv": ["stage1_block1_conv2", "stem_conv"],
                      "stage1_block1_conv1": ["stage1_block1_conv1"],
                      "stage2_block1_conv1": ["stage2_block1_conv1"],
                      "stage2_block1_proj": ["stage2_block1_conv2", "stage2_block1_proj"],
                      "head": ["head"]}
    assert plan.unprunable() == {"head": "it is the model's output"}


def test_stochastic_depth_passes_channels_through_like_dropout():
    plain = build_model({"architecture": "resnet", "filters": 4, "blocks_per_stage": [1, 1]},
                        input_shape=(8, 8, 1), num_classes=3)
    dropping = build_model({"architecture": "resnet", "filters": 4, "blocks_per_stage": [1, 1],
                            "stochastic_depth": 0.3}, input_shape=(8, 8, 1), num_classes=3)
    assert any(type(layer).__name__ == "StochasticDepth" for layer in dropping.layers)
    _, expected = prune_channels(plain, 0.5)
    _, plan = prune_channels(dropping, 0.5)
    assert sorted(sorted(g.sources) for g in plan.groups) == sorted(sorted(g.sources) for g in expected.groups)
    assert plan.kept_channels() == expected.kept_channels() and plan.unprunable() == {"head": "it is the model's output"}


def test_removing_zeroed_channels_leaves_the_outputs_unchanged():
    model = _coupled_model()
    _dyadic(model)
    x = np.random.default_rng(2).integers(-2, 3, size=(7, 6, 3)).astype("float32")
    # Residual group {a, b} (and the depthwise conv that follows it): channels 1, 4, 6 zeroed in
    # every member, so they are 0 after the Add whatever BN's moving statistics are.
    for layer in ("a", "a_bn", "b", "b_bn", "dw"):
        _zero(model, layer, [1, 4, 6])
    _zero(model, "c", [2])
    _zero(model, "hidden", [3])
    expected = _outputs(model, x)
    small, plan = prune_channels(model, 0.375)  # floor(0.375 * 8) = 3, floor(0.375 * 4) = 1, floor(0.375 * 5) = 1
    assert plan.keep == {"a": [0, 2, 3, 5, 7], "c": [0, 1, 3], "hidden": [0, 1, 2, 4]}
    assert plan.kept_channels() == {"a": {"before": 8, "after": 5}, "b": {"before": 8, "after": 5},
                                    "c": {"before": 4, "after": 3}, "hidden": {"before": 5, "after": 4},
                                    "head": {"before": 3, "after": 3}}
    np.testing.assert_array_equal(_outputs(small, x), expected)
    # By hand: a 3*3*8+8, a_bn 4*8, b 3*8+8, b_bn 4*8, dw 3*8+8, c 8*4+4, hidden 72*5+5, head 5*3+3.
    assert model.count_params() == 80 + 32 + 32 + 32 + 32 + 36 + 365 + 18 == 627
    # Kept: a 3*3*5+5, a_bn 4*5, b 3*5+5, b_bn 4*5, dw 3*5+5, c 5*3+3, hidden (6*8)*4+4, head 4*3+3.
    assert small.count_params() == 50 + 20 + 20 + 20 + 20 + 18 + 196 + 15 == 359
    assert small.get_layer("a").filters == 5 and small.get_layer("hidden").units == 4
    # The Dense after Flatten keeps the rows of every kept channel at every step (channel-last order).
    rows = [s * 12 + c for s in range(6) for c in [0, 2, 3, 5, 7, 8, 9, 11]]
    np.testing.assert_array_equal(small.get_layer("hidden").get_weights()[0],
                                  model.get_layer("hidden").get_weights()[0][rows][:, [0, 1, 2, 4]])
    # A stored plan (its JSON `keep`) rebuilds the same model.
    again = apply_plan(model, {k: list(v) for k, v in plan.to_dict()["keep"].items()})
    np.testing.assert_array_equal(_outputs(again, x), _outputs(small, x))


def test_kept_counts_per_layer_round_to_and_at_least_one():
    assert [kept_count(n, 0.5) for n in (1, 2, 3, 16, 17)] == [1, 1, 2, 8, 9]
    assert kept_count(100, 0.29) == 71  # floor(28.999999999999996 + 1e-9) = 29 pruned
    assert kept_count(10, 0.99) == 1
    assert [kept_count(n, 0.5, round_to=8) for n in (4, 20, 24, 64)] == [4, 16, 16, 32]


def _mlp(first_columns, second_columns):
    model = keras.Sequential([keras.Input((1,)), L.Dense(4, name="d1"), L.Dense(4, name="d2"),
                              L.Dense(2, name="head")])
    model.get_layer("d1").set_weights([np.array([first_columns], "float32"), np.zeros(4, "float32")])
    model.get_layer("d2").set_weights([np.tile(np.array(second_columns, "float32") / 4, (4, 1)),
                                       np.zeros(4, "float32")])
    return model


def test_global_scope_compares_scores_normalized_by_each_groups_mean():
    # L1 scores: d1 [1, 1, 1, 5] (mean 2 -> 0.5, 0.5, 0.5, 2.5), d2 [2, 2, 2, 2] (-> 1, 1, 1, 1).
    # floor(0.5 * 8) = 4 pruned: the three 0.5s of d1, then one of d2's (its kept 3: ties keep the
    # lower indices).
    model = _mlp([1, 1, 1, 5], [2, 2, 2, 2])
    assert plan_channels(model, 0.5, scope="global").keep == {"d1": [3], "d2": [0, 1, 2]}
    # round_to=2: d1 keeps 2 (its best, then the lower index of a tie), d2 all 4.
    assert plan_channels(model, 0.5, scope="global", round_to=2).keep == {"d1": [0, 3], "d2": [0, 1, 2, 3]}
    assert plan_channels(model, 0.5, criterion="l2").keep == {"d1": [0, 3], "d2": [0, 1]}


def test_unknown_layers_leave_their_group_whole_and_an_exact_selection_is_refused():
    x = keras.Input((6, 2))
    y = L.LayerNormalization(name="ln")(L.Conv1D(4, 3, name="conv")(x))
    y = L.Dense(6, name="hidden")(L.GlobalAveragePooling1D()(y))
    model = keras.Model(x, L.Softmax(name="probs")(L.Dense(3, name="head")(y)))
    small, plan = prune_channels(model, 0.5)
    assert plan.keep == {"hidden": [i for i in range(6) if i in plan.keep["hidden"]]} and len(plan.keep["hidden"]) == 3
    assert plan.unprunable() == {
        "conv": "it reaches layer 'ln' (LayerNormalization), which channel pruning does not know",
        "head": "it reaches layer 'probs' (Softmax), which channel pruning does not know"}
    assert small.get_layer("conv").filters == 4
    with pytest.raises(ValueError, match=r"conv: it reaches layer 'ln' \(LayerNormalization\)"):
        plan_channels(model, 0.5, layers=["conv"])
    with pytest.raises(ValueError, match="criterion 'bn_scale'.*none: hidden"):
        plan_channels(model, 0.5, criterion="bn_scale")


@pytest.mark.parametrize(("kwargs", "message"), [
    ({"ratio": 1.0}, r"`ratio` .* \[0, 1\). Received: ratio=1.0"),
    ({"ratio": True}, "Received: ratio=True"),
    ({"criterion": "l3"}, "`criterion` must be one of l1, l2, bn_scale. Received: criterion='l3'"),
    ({"scope": "model"}, "Received: scope='model'"),
    ({"round_to": 0}, "`round_to` must be an integer >= 1. Received: round_to=0"),
    ({"layers": ["nope"]}, "`layers` pattern 'nope' matches no layer"),
])
def test_bad_arguments_are_named(kwargs, message):
    with pytest.raises(ValueError, match=message):
        plan_channels(_mlp([1, 1, 1, 5], [2, 2, 2, 2]), **kwargs)
