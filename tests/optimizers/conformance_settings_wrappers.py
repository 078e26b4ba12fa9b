"""Conformance settings of the wrappers (Lookahead, SAM, SWA, GradientCentralization) and AdaHessian.

Hyperparameters were chosen by running each optimizer on the suite's two problems
(0.5 (x1^2 + 10 x2^2) from (1, 1); Rosenbrock from (-1.2, 1)) and keeping settings that
reach the tolerance with margin. SAM's fixed point is biased by about `rho` away from a
minimum when the gradient is small but not zero (the perturbation has norm `rho` whatever the
gradient), so its `rho` is small here. SWA is checked on the model's own (non-averaged)
weights, as the suite reads them. SAM and AdaHessian run through
`kerasopt.training.enable_closure` (`needs_train_step=True`). AdaHessian with
`hessian_power=1` (its default) stalls in Rosenbrock's curved valley (distance 1.9 after
2000 steps at lr 0.05): a diagonal curvature estimate of a non-diagonal Hessian; with
`hessian_power=0.5` and clipping it converges to within 1e-4.
"""

from __future__ import annotations

import keras

from kerasopt.optimizers.ada_hessian import AdaHessian
from kerasopt.optimizers.gradient_centralization import GradientCentralization
from kerasopt.optimizers.lookahead import Lookahead
from kerasopt.optimizers.sam import SAM
from kerasopt.optimizers.swa import SWA
from tests.optimizers.conformance_spec import Conformance

SETTINGS: dict[str, Conformance] = {
    "Lookahead": Conformance(
        make=lambda: Lookahead(keras.optimizers.Adam(0.05), sync_period=5, slow_step_size=0.5),
        quadratic_steps=300,
        rosenbrock_steps=3000,
        recipe_args={"optimizer": {"type": "adam", "learning_rate": 0.05}, "sync_period": 5},
    ),
    "SAM": Conformance(
        make=lambda: SAM(keras.optimizers.Adam(0.05), rho=0.002),
        needs_train_step=True,
        recipe_args={"optimizer": {"type": "adam", "learning_rate": 0.05}, "rho": 0.002},
    ),
    "SWA": Conformance(
        make=lambda: SWA(keras.optimizers.Adam(0.05), start_averaging=100, average_period=10),
        recipe_args={"optimizer": {"type": "adam", "learning_rate": 0.05},
                     "start_averaging": 100},
    ),
    "GradientCentralization": Conformance(
        make=lambda: GradientCentralization(keras.optimizers.Adam(0.05)),
        recipe_args={"optimizer": {"type": "adam", "learning_rate": 0.05}},
    ),
    "AdaHessian": Conformance(
        make=lambda: AdaHessian(learning_rate=0.3, hessian_power=0.5, global_clipnorm=1.0, seed=0),
        needs_train_step=True,
        recipe_args={"learning_rate": 0.3, "hessian_power": 0.5, "global_clipnorm": 1.0,
                     "seed": 0},
    ),
}
