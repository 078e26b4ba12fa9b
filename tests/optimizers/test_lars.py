"""Tests of LARS against a NumPy re-derivation of You et al. (2017), Algorithm 1 and Eq. 6."""

from __future__ import annotations

import keras
import numpy as np
import pytest

from kerasopt.optimizers.lars import LARS
from tests.optimizers.first_order_testing import CURVATURE, SHIFT, START, keras_trajectory

BIAS_START = np.array([0.5, -0.5])


def gradients(ws):
    return [CURVATURE * ws[0] + SHIFT, ws[1] - 1.0]


def lars_reference(starts, steps, lr=0.1, momentum=0.9, eta=0.01, weight_decay=0.0,
                   nesterov=False, adapt=(True, True)):
    """trust = eta ||w|| / (||g|| + wd ||w||); v = mu v + lr trust (g + wd w); w -= v."""
    ws = [np.array(s, dtype="float64") for s in starts]
    vs = [np.zeros_like(w) for w in ws]
    out = [[] for _ in ws]
    for _ in range(steps):
        gs = gradients(ws)
        for i, g in enumerate(gs):
            trust = 1.0
            if adapt[i]:
                w_norm, g_norm = np.linalg.norm(ws[i]), np.linalg.norm(g)
                if w_norm > 0 and g_norm > 0:
                    trust = eta * w_norm / (g_norm + weight_decay * w_norm)
            scaled = lr * trust * (g + weight_decay * ws[i])
            vs[i] = momentum * vs[i] + scaled
            ws[i] = ws[i] - (momentum * vs[i] + scaled if nesterov else vs[i])
            out[i].append(ws[i].copy())
    return [np.stack(o) for o in out]


def run(optimizer, steps):
    return keras_trajectory(optimizer, [START, BIAS_START], gradients, steps, names=["kernel", "bias"])


def test_first_step_by_hand():
    # v_0 = 0, so w_1 = w_0 - lr eta ||w|| / (||g|| + wd ||w||) (g + wd w).
    g = CURVATURE * START + SHIFT
    trust = 0.01 * np.linalg.norm(START) / (np.linalg.norm(g) + 0.1 * np.linalg.norm(START))
    expected = START - 2.0 * trust * (g + 0.1 * START)
    got = run(LARS(learning_rate=2.0, eta=0.01, weight_decay=0.1), 1)[0][0]
    np.testing.assert_allclose(got, expected, rtol=1e-6)


@pytest.mark.parametrize(
    "kwargs",
    [{}, {"weight_decay": 0.01}, {"nesterov": True}],
    ids=["default", "weight_decay", "nesterov"],
)
def test_twenty_steps_match_numpy_reference(kwargs):
    # Golden values: lars_reference above, float64.
    got = run(LARS(learning_rate=1.0, eta=0.01, **kwargs), 20)
    expected = lars_reference([START, BIAS_START], 20, lr=1.0, eta=0.01, **kwargs)
    for g, e in zip(got, expected, strict=True):
        np.testing.assert_allclose(g, e, rtol=1e-5, atol=1e-6)


def test_excluded_variables_skip_the_trust_ratio():
    got = run(LARS(learning_rate=0.1, eta=0.01, exclude_from_layer_adaptation=["bias"]), 20)
    expected = lars_reference([START, BIAS_START], 20, lr=0.1, eta=0.01, adapt=(True, False))
    for g, e in zip(got, expected, strict=True):
        np.testing.assert_allclose(g, e, rtol=1e-5, atol=1e-6)


def test_exclusion_matches_layer_paths_in_a_model():
    model = keras.Sequential([keras.Input((2,)), keras.layers.Dense(1, name="head")])
    optimizer = LARS(exclude_from_layer_adaptation=["bias", "batch_normalization"])
    kernel, bias = model.layers[0].kernel, model.layers[0].bias
    assert optimizer._adapts(kernel) and not optimizer._adapts(bias)


def test_zero_weights_use_trust_one():
    # A zero-initialized variable (||w|| = 0) gets the plain momentum-SGD step lr * g.
    got = keras_trajectory(LARS(learning_rate=0.1), [np.zeros(2)], lambda ws: [np.array([1.0, -2.0])], 1)
    np.testing.assert_allclose(got[0][0], [-0.1, 0.2], rtol=1e-6)


def test_config_round_trip():
    optimizer = LARS(learning_rate=0.5, eta=0.002, exclude_from_layer_adaptation=["bias"])
    config = optimizer.get_config()
    assert config["exclude_from_layer_adaptation"] == ["bias"] and config["learning_rate"] == 0.5
    assert LARS.from_config(config).get_config() == config


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"eta": 0.0}, r"`eta` must be a number in \(0, inf\)\. Received: eta=0\.0"),
        ({"momentum": 1.0}, r"`momentum` must be a number in \[0, 1\)\. Received: momentum=1\.0"),
        ({"nesterov": None}, r"`nesterov` must be True or False\. Received: nesterov=None"),
        ({"exclude_from_layer_adaptation": "bias"}, r"must be a list of regular expressions"),
        ({"exclude_from_layer_adaptation": ["(bias"]}, r"invalid regular expression"),
    ],
)
def test_invalid_arguments(kwargs, message):
    with pytest.raises(ValueError, match=message):
        LARS(**kwargs)
