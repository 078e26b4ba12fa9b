"""Conformance settings of the full-batch line-search optimizers (LBFGS, ConjugateGradient)."""

from __future__ import annotations

from kerasopt.optimizers.conjugate_gradient import ConjugateGradient
from kerasopt.optimizers.lbfgs import LBFGS
from tests.optimizers.conformance_spec import Conformance

# Each step is one function-and-gradient evaluation, so step counts count evaluations.
# Measured in float32 through the NumPy reference: LBFGS reaches (1, 1) on Rosenbrock
# from (-1.2, 1) in about 45 evaluations, CG (Polak-Ribiere+) in about 120.
SETTINGS: dict[str, Conformance] = {
    "LBFGS": Conformance(make=LBFGS, quadratic_steps=40, quadratic_tol=1e-3,
                         rosenbrock_steps=150, rosenbrock_tol=1e-2, full_batch=True,
                         recipe_args={"history_size": 5}),
    "ConjugateGradient": Conformance(make=ConjugateGradient, quadratic_steps=60,
                                     quadratic_tol=1e-3, rosenbrock_steps=400,
                                     rosenbrock_tol=2e-2, full_batch=True,
                                     recipe_args={"method": "fletcher_reeves"}),
}
