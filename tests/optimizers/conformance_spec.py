"""How an optimizer takes part in the registry-wide conformance suite.

Every optimizer registered by kerasopt needs one `Conformance` entry in a
`SETTINGS` dict of a module `tests/optimizers/conformance_settings_*.py`, keyed by its
registered name. `test_conformance.py` collects all of them, and fails for a registered
optimizer that has none.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from typing import Any


@dataclasses.dataclass(frozen=True)
class Conformance:
    """Settings that make one optimizer converge on the suite's test problems.

    Attributes:
        make: Builds the optimizer (hyperparameters that converge on the problems).
        quadratic_steps: Steps on the ill-conditioned quadratic.
        quadratic_tol: Max abs distance from the optimum after `quadratic_steps`.
        rosenbrock_steps: Steps on the 2-D Rosenbrock function from (-1.2, 1).
        rosenbrock_tol: Max abs distance from (1, 1) afterwards; None skips the check
            (then `skip_reason` must say why).
        skip_reason: Why Rosenbrock is skipped.
        full_batch: True for line-search optimizers (LBFGS, ConjugateGradient) that must
            see the same batch every step.
        needs_train_step: True for optimizers that need `kerasopt.training`'s train step
            (a second gradient or a Hessian-vector product on the same batch).
        recipe_args: Arguments used when the suite runs it from a recipe.
    """

    make: Callable[[], Any]
    quadratic_steps: int = 200
    quadratic_tol: float = 1e-2
    rosenbrock_steps: int = 2000
    rosenbrock_tol: float | None = 5e-2
    skip_reason: str = ""
    full_batch: bool = False
    needs_train_step: bool = False
    recipe_args: dict[str, Any] = dataclasses.field(default_factory=dict)
