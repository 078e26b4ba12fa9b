"""Conformance settings of the first-order optimizers (RAdam, Yogi, AdaBelief, ...).

Hyperparameters were chosen by running each optimizer on the suite's two problems
(0.5 (x1^2 + 10 x2^2) from (1, 1); Rosenbrock from (-1.2, 1)) and keeping settings that
reach the tolerance with margin. RAdam and AdaBelief take un-normalized momentum steps
while rho_t < 5 (the first five steps), which diverge on Rosenbrock's gradient of
about 230 at the start unless clipped; hence `global_clipnorm=1.0`.
"""

from __future__ import annotations

import keras

from kerasopt.optimizers.ada_belief import AdaBelief
from kerasopt.optimizers.lars import LARS
from kerasopt.optimizers.lazy_adam import LazyAdam
from kerasopt.optimizers.novo_grad import NovoGrad
from kerasopt.optimizers.rectified_adam import RectifiedAdam
from kerasopt.optimizers.rprop import Rprop
from kerasopt.optimizers.yogi import Yogi
from tests.optimizers.conformance_spec import Conformance


def _lars() -> LARS:
    # Normalized (trust-ratio) steps do not shrink near the optimum: decay the rate.
    schedule = keras.optimizers.schedules.CosineDecay(1.0, decay_steps=2000, alpha=0.01)
    return LARS(learning_rate=schedule, eta=0.01)


SETTINGS: dict[str, Conformance] = {
    "RectifiedAdam": Conformance(
        make=lambda: RectifiedAdam(learning_rate=0.05, global_clipnorm=1.0),
        recipe_args={"learning_rate": 0.05, "global_clipnorm": 1.0},
    ),
    "AdaBelief": Conformance(
        make=lambda: AdaBelief(learning_rate=0.05, epsilon=1e-12, global_clipnorm=1.0),
        recipe_args={"learning_rate": 0.05, "epsilon": 1e-12, "global_clipnorm": 1.0},
    ),
    "Yogi": Conformance(
        make=lambda: Yogi(learning_rate=0.1),
        recipe_args={"learning_rate": 0.1},
    ),
    "NovoGrad": Conformance(
        make=lambda: NovoGrad(learning_rate=0.1),
        recipe_args={"learning_rate": 0.1},
    ),
    "LARS": Conformance(
        make=_lars,
        recipe_args={"learning_rate": 1.0, "eta": 0.01},
        rosenbrock_tol=5e-2,
    ),
    "LazyAdam": Conformance(
        make=lambda: LazyAdam(learning_rate=0.05),
        recipe_args={"learning_rate": 0.05},
    ),
    "Rprop": Conformance(
        make=lambda: Rprop(learning_rate=0.01),
        full_batch=True,
        recipe_args={"learning_rate": 0.01},
    ),
}
