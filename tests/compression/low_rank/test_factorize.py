"""Low-rank factorization: exact at full rank, Eckart-Young error, parameter counts by hand."""

from __future__ import annotations

import keras
import numpy as np
import pytest

from kerasopt.compression import factorize_low_rank, low_rank_plan
from kerasopt.compression.low_rank import choose_rank, truncated_factors


def _functional() -> keras.Model:
    keras.utils.set_random_seed(0)
    inputs = keras.Input((16, 3), name="signal")
    x = keras.layers.Conv1D(8, 3, strides=2, padding="same", activation="relu", name="conv")(inputs)
    x = keras.layers.Flatten(name="flat")(x)
    x = keras.layers.Dense(32, activation="relu", name="hidden")(x)
    return keras.Model(inputs, keras.layers.Dense(4, name="logits")(x), name="net")


def _conv2d() -> keras.Model:
    keras.utils.set_random_seed(1)
    return keras.Sequential([keras.Input((9, 9, 4)), keras.layers.Conv2D(16, 3, strides=2, padding="valid",
                                                                         dilation_rate=1, name="c2"),
                             keras.layers.GlobalAveragePooling2D(), keras.layers.Dense(3, name="out")], name="seq")


def test_full_rank_reproduces_the_outputs_functional_and_sequential():
    model = _functional()
    x = np.random.default_rng(0).normal(size=(5, 16, 3)).astype("float32")
    full = factorize_low_rank(model, ranks={"conv": 8, "hidden": 32, "logits": 4})
    names = [layer.name for layer in full.layers]
    assert names == ["signal", "conv_lowrank", "conv", "flat", "hidden_lowrank", "hidden",
                     "logits_lowrank", "logits"]
    np.testing.assert_allclose(full.predict(x, verbose=0), model.predict(x, verbose=0), atol=2e-5)
    conv_first, conv_second = full.get_layer("conv_lowrank"), full.get_layer("conv")
    assert (conv_first.kernel_size, conv_first.strides, conv_first.padding, conv_first.use_bias) == (
        (3,), (2,), "same", False)
    assert (conv_second.kernel_size, conv_second.filters, conv_second.activation.__name__) == ((1,), 8, "relu")

    seq = _conv2d()
    images = np.random.default_rng(1).normal(size=(2, 9, 9, 4)).astype("float32")
    full = factorize_low_rank(seq, ranks={"c2": 16})
    assert isinstance(full, keras.Sequential)
    names = [layer.name for layer in full.layers]  # the pooling layer keeps its (process-dependent) Keras name
    assert names[:2] + names[3:] == ["c2_lowrank", "c2", "out"] and names[2] == seq.layers[1].name
    np.testing.assert_allclose(full.predict(images, verbose=0), seq.predict(images, verbose=0), atol=2e-5)


def test_reconstruction_error_is_the_discarded_energy():
    kernel = np.random.default_rng(2).normal(size=(36, 16)).astype("float64")
    singular = np.linalg.svd(kernel, compute_uv=False)
    for rank in (1, 5, 12):
        a, b, values = truncated_factors(kernel, rank)
        np.testing.assert_allclose(values, singular)
        error = np.sum((kernel - a @ b) ** 2)
        np.testing.assert_allclose(error, np.sum(singular[rank:] ** 2), rtol=1e-10)

    # The same through a model: the conv kernel reshaped to (3 * 3 * 4, 16), rank 5.
    seq = _conv2d()
    kernel = keras.ops.convert_to_numpy(seq.get_layer("c2").kernel)
    small = factorize_low_rank(seq, ranks={"c2": 5})
    product = (keras.ops.convert_to_numpy(small.get_layer("c2_lowrank").kernel).reshape(36, 5)
               @ keras.ops.convert_to_numpy(small.get_layer("c2").kernel).reshape(5, 16))
    singular = np.linalg.svd(kernel.reshape(36, 16).astype("float64"), compute_uv=False)
    np.testing.assert_allclose(np.sum((kernel.reshape(36, 16) - product) ** 2), np.sum(singular[5:] ** 2),
                               rtol=1e-4)


def test_ranks_and_parameter_counts_by_hand():
    # energy: the smallest rank with cumulative squared singular values >= energy.
    values = np.array([4.0, 2.0, 1.0, 1.0])  # squares 16, 4, 1, 1 of 22
    assert [choose_rank(values, (4, 4), energy=e) for e in (0.7, 16 / 22, 0.8, 0.95, 1.0)] == [1, 1, 2, 3, 4]
    # params_ratio: the largest r with r * (m + n) <= ratio * m * n.
    assert choose_rank(values, (288, 32), params_ratio=0.5) == 14  # 0.5 * 9216 / 320 = 14.4

    model = _functional()
    plan = low_rank_plan(model, params_ratio=0.5)
    # conv kernel (3*3, 8) = 9 x 8: max rank with fewer weights is (72 - 1) // 17 = 4; 0.5 -> r = 2.
    assert plan["conv"] == {"rank": 2, "full_rank": 8, "energy": pytest.approx(plan["conv"]["energy"]),
                            "params_before": 9 * 8 + 8, "params_after": 2 * (9 + 8) + 8}
    # hidden (64, 32): r = 0.5 * 2048 // 96 = 10 -> 10 * 96 + 32 weights.
    assert (plan["hidden"]["rank"], plan["hidden"]["params_after"]) == (10, 10 * 96 + 32)
    # logits (32, 4): 0.5 * 128 // 36 = 1 -> 36 weights + 4 biases.
    assert (plan["logits"]["rank"], plan["logits"]["params_after"]) == (1, 36 + 4)
    small = factorize_low_rank(model, params_ratio=0.5)
    saved = sum(e["params_before"] - e["params_after"] for e in plan.values())
    # conv 80 -> 42, hidden 2080 -> 992, logits 132 -> 40.
    assert small.count_params() == model.count_params() - saved == 2292 - (38 + 1088 + 92)

    # energy 1.0 asks for the full rank, which never saves weights: every layer is left as it is.
    plan = low_rank_plan(model, energy=1.0)
    assert all(e["rank"] is None and "not fewer than the kernel's" in e["skipped"] for e in plan.values())
    assert factorize_low_rank(model, energy=1.0).count_params() == model.count_params()


def test_energy_keeps_what_it_says():
    model = _functional()
    plan = low_rank_plan(model, energy=0.9, layers=["hidden"])
    kernel = keras.ops.convert_to_numpy(model.get_layer("hidden").kernel).astype("float64")
    squares = np.linalg.svd(kernel, compute_uv=False) ** 2
    rank = plan["hidden"]["rank"]
    assert squares[:rank].sum() / squares.sum() >= 0.9 > squares[:rank - 1].sum() / squares.sum()
    assert list(plan) == ["hidden"]


@pytest.mark.parametrize(("kwargs", "match"), [
    ({"energy": 0.9, "params_ratio": 0.5}, "exactly one of `energy`"),
    ({}, "exactly one of `energy`"),
    ({"energy": 0.0}, "energy=0.0"),
    ({"params_ratio": 1.0}, "params_ratio=1.0"),
    ({"ranks": {"hidden": 33}}, "between 1 and 32"),
    ({"ranks": {"flat": 2}}, "no selected Dense"),
    ({"ranks": {"hidden": 2}, "energy": 0.5}, "Give `ranks` alone"),
    ({"energy": 0.5, "layers": ["flat"]}, "cannot be factorized"),
])
def test_bad_arguments_name_what_was_received(kwargs, match):
    with pytest.raises(ValueError, match=match):
        factorize_low_rank(_functional(), **kwargs)
