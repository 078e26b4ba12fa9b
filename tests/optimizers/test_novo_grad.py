"""Tests of NovoGrad against a NumPy re-derivation of Ginsburg et al. (2019), Algorithm 1."""

from __future__ import annotations

import numpy as np
import pytest

from kerasopt.optimizers.novo_grad import NovoGrad
from tests.optimizers.first_order_testing import CURVATURE, SHIFT, START, keras_trajectory

SECOND_START = np.array([[0.5, -1.0], [2.0, 0.25]])


def gradients(ws):
    """Two variables ("layers"): the shared quadratic, and 2 * w for a 2x2 matrix."""
    return [CURVATURE * ws[0] + SHIFT, 2.0 * ws[1]]


def novograd_reference(starts, steps, lr=0.01, beta_1=0.9, beta_2=0.999, epsilon=1e-7,
                       weight_decay=0.0, grad_averaging=False, amsgrad=False):
    """Layer-wise second moment (one scalar per variable), weight decay inside the moment."""
    ws = [np.array(s, dtype="float64") for s in starts]
    ms = [np.zeros_like(w) for w in ws]
    vs = [0.0 for _ in ws]
    v_max = [0.0 for _ in ws]
    out = [[] for _ in ws]
    for t in range(1, steps + 1):
        gs = gradients(ws)
        for i, g in enumerate(gs):
            norm_sq = float(np.sum(g * g))
            vs[i] = norm_sq if t == 1 else beta_2 * vs[i] + (1 - beta_2) * norm_sq
            v_max[i] = max(v_max[i], vs[i])
            v = v_max[i] if amsgrad else vs[i]
            step = g / (np.sqrt(v) + epsilon) + weight_decay * ws[i]
            if grad_averaging and t > 1:
                step = (1 - beta_1) * step
            ms[i] = beta_1 * ms[i] + step
            ws[i] = ws[i] - lr * ms[i]
            out[i].append(ws[i].copy())
    return [np.stack(o) for o in out]


def test_first_step_by_hand():
    # v_1 = ||g||^2 per variable, m_1 = g / ||g|| + d w: each variable moves by lr along
    # its unit gradient (plus decay).
    g = CURVATURE * START + SHIFT
    expected = START - 0.1 * (g / (np.linalg.norm(g) + 1e-7) + 0.01 * START)
    got = keras_trajectory(NovoGrad(learning_rate=0.1, weight_decay=0.01), [START, SECOND_START], gradients, 1)
    np.testing.assert_allclose(got[0][0], expected, rtol=1e-6, atol=1e-7)
    g2 = 2.0 * SECOND_START
    np.testing.assert_allclose(
        got[1][0], SECOND_START - 0.1 * (g2 / np.linalg.norm(g2) + 0.01 * SECOND_START), rtol=1e-6
    )


@pytest.mark.parametrize(
    "kwargs",
    [{}, {"weight_decay": 0.05}, {"grad_averaging": True}, {"amsgrad": True, "beta_2": 0.5}],
    ids=["default", "weight_decay", "grad_averaging", "amsgrad"],
)
def test_twenty_steps_match_numpy_reference(kwargs):
    # Golden values: novograd_reference above, float64.
    got = keras_trajectory(NovoGrad(learning_rate=0.02, **kwargs), [START, SECOND_START], gradients, 20)
    expected = novograd_reference([START, SECOND_START], 20, lr=0.02, **kwargs)
    for g, e in zip(got, expected, strict=True):
        np.testing.assert_allclose(g, e, rtol=1e-5, atol=1e-6)


def test_second_moment_is_one_scalar_per_variable():
    optimizer = NovoGrad()
    keras_trajectory(optimizer, [START, SECOND_START], gradients, 1)
    assert [tuple(v.shape) for v in optimizer._norms] == [(), ()]
    np.testing.assert_allclose(optimizer._norms[1].numpy(), np.sum((2.0 * SECOND_START) ** 2), rtol=1e-6)


def test_config_round_trip():
    optimizer = NovoGrad(learning_rate=0.01, weight_decay=0.001, grad_averaging=True)
    config = optimizer.get_config()
    assert config["weight_decay"] == 0.001 and config["grad_averaging"] is True
    assert NovoGrad.from_config(config).get_config() == config


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"grad_averaging": "no"}, r"`grad_averaging` must be True or False\. Received: grad_averaging='no'"),
        ({"beta_2": 1.5}, r"`beta_2` must be a number in \[0, 1\)\. Received: beta_2=1\.5"),
        ({"weight_decay": -0.1}, r"`weight_decay` must be .*Received: weight_decay=-0\.1"),
        ({"epsilon": float("inf")}, r"`epsilon` must be .*Received: epsilon=inf"),
    ],
)
def test_invalid_arguments(kwargs, message):
    with pytest.raises(ValueError, match=message):
        NovoGrad(**kwargs)
