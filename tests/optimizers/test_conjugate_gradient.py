"""ConjugateGradient: first step by hand, golden trajectories, finite termination on quadratics."""

from __future__ import annotations

import numpy as np
import pytest

from kerasopt.optimizers.conjugate_gradient import ConjugateGradient
from tests.optimizers.line_search_reference import (
    Reference,
    quadratic_ops,
    rosenbrock_np,
    rosenbrock_ops,
    run_keras,
)


def test_first_step_by_hand():
    # f = 0.5 x^T diag(1, 4) x from (1, 1): the first trial is x0 - g0 min(1, 1/||g0||).
    a, x0 = np.diag([1.0, 4.0]), np.array([1.0, 1.0])
    ws, _ = run_keras(ConjugateGradient(full_batch_check=0), quadratic_ops(a, np.zeros(2)), x0, 1)
    np.testing.assert_allclose(ws[0], x0 - (a @ x0) / np.sqrt(17.0), rtol=1e-12)


@pytest.mark.parametrize("method", ["polak_ribiere_plus", "fletcher_reeves"])
def test_trajectory_matches_numpy_reference(method):
    # Golden values: the procedural NumPy re-derivation in line_search_reference.py
    # (N&W Algorithms 3.5/3.6 as loops; beta from eqs. 5.41a and 5.44-5.45).
    x0 = np.array([-1.2, 1.0])
    points = np.array(Reference(rosenbrock_np, method=method, c2=0.1).run(x0, 21))[:21]
    ws, _ = run_keras(ConjugateGradient(method, full_batch_check=0), rosenbrock_ops, x0, 20)
    np.testing.assert_allclose(np.concatenate([x0[None], ws]), points, rtol=1e-9, atol=1e-12)


@pytest.mark.parametrize("method", ["polak_ribiere_plus", "fletcher_reeves"])
def test_quadratic_converges_in_at_most_n_iterations(method):
    # With near-exact line searches (c2 = 1e-6) both variants are linear CG, which ends
    # in at most n = 6 iterations (N&W Theorem 5.1); allow one for rounding.
    rng = np.random.default_rng(2)
    q = np.linalg.qr(rng.normal(size=(6, 6)))[0]
    a = q @ np.diag([1.0, 3.0, 10.0, 30.0, 60.0, 100.0]) @ q.T
    b = rng.normal(size=6)
    opt = ConjugateGradient(method, c1=1e-7, c2=1e-6, tolerance_grad=1e-9, full_batch_check=0)
    ws, _ = run_keras(opt, quadratic_ops(a, b), np.zeros(6), 30)
    assert opt.converged
    assert opt.accepted_iterations <= 7
    np.testing.assert_allclose(ws[-1], np.linalg.solve(a, b), atol=1e-8)


def test_validation_and_config_round_trip():
    with pytest.raises(ValueError, match="`method` must be one of 'polak_ribiere_plus', "
                                         "'fletcher_reeves'. Received: method='hestenes'"):
        ConjugateGradient(method="hestenes")
    with pytest.raises(ValueError, match=r"`c2` must be a number in \(c1, 1\)"):
        ConjugateGradient(c2=1.0)
    opt = ConjugateGradient("fletcher_reeves", c2=0.2, max_line_search_steps=10)
    config = opt.get_config()
    assert (config["method"], config["c2"], config["max_line_search_steps"]) == (
        "fletcher_reeves", 0.2, 10)
    assert ConjugateGradient.from_config(config).get_config() == config
