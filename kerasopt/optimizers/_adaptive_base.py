"""Private helpers shared by kerasopt's first-order optimizers.

Not public API. Holds what would otherwise be copied between optimizers:

- argument validation with messages that name the argument, the received value and
  what is allowed;
- `AdaptiveOptimizer`, a `keras.optimizers.Optimizer` base whose `get_config` returns
  the constructor arguments exactly as given, and which can move `weight_decay` from
  Keras's decoupled pre-step decay into the optimizer's own update rule;
- `one_minus_power`, an accurate float32 bias correction 1 - beta^t;
- `step_scalar`, the step count and per-step scalars computed in float32 whatever the
  variable dtype (float16 powers of `beta_2` lose the bias correction).
"""

from __future__ import annotations

import math
import numbers
from collections.abc import Sequence
from typing import Any

import keras
from keras import ops

# ---------------------------------------------------------------------------
# Validation
# ---------------------------------------------------------------------------


def _interval(low: float | None, high: float | None, low_open: bool, high_open: bool) -> str:
    left = "(" if low_open or low is None else "["
    right = ")" if high_open or high is None else "]"
    low_text = "-inf" if low is None else f"{low:g}"
    high_text = "inf" if high is None else f"{high:g}"
    return f"{left}{low_text}, {high_text}{right}"


def check_float(
    name: str,
    value: Any,
    *,
    low: float | None = None,
    high: float | None = None,
    low_open: bool = False,
    high_open: bool = False,
    allow_none: bool = False,
) -> None:
    """Raise ValueError unless `value` is a real number in the given interval."""
    if value is None and allow_none:
        return
    allowed = f"a number in {_interval(low, high, low_open, high_open)}"
    if allow_none:
        allowed += " or None"
    ok = isinstance(value, numbers.Real) and not isinstance(value, bool)
    if ok:
        number = float(value)
        ok = math.isfinite(number)
        if ok and low is not None:
            ok = number > low if low_open else number >= low
        if ok and high is not None:
            ok = number < high if high_open else number <= high
    if not ok:
        raise ValueError(f"`{name}` must be {allowed}. Received: {name}={value!r}")


def check_int(name: str, value: Any, *, low: int) -> None:
    """Raise ValueError unless `value` is an integer >= `low`."""
    if not isinstance(value, numbers.Integral) or isinstance(value, bool) or value < low:
        raise ValueError(f"`{name}` must be an integer >= {low}. Received: {name}={value!r}")


def check_bool(name: str, value: Any) -> None:
    """Raise ValueError unless `value` is a bool."""
    if not isinstance(value, bool):
        raise ValueError(f"`{name}` must be True or False. Received: {name}={value!r}")


def check_choice(name: str, value: Any, choices: Sequence[str]) -> None:
    """Raise ValueError unless `value` is one of `choices`."""
    if value not in choices:
        allowed = ", ".join(repr(c) for c in choices)
        raise ValueError(f"`{name}` must be one of {allowed}. Received: {name}={value!r}")


def check_weight_decay(value: Any) -> None:
    """Raise ValueError unless `weight_decay` is None or a number >= 0."""
    check_float("weight_decay", value, low=0.0, allow_none=True)


# ---------------------------------------------------------------------------
# Base class
# ---------------------------------------------------------------------------


def step_scalar(value: Any) -> Any:
    """Cast a per-step scalar (step count, beta, learning rate) to float32."""
    return ops.cast(value, "float32")


def one_minus_power(beta: float, step: Any) -> Any:
    """1 - beta^step in float32, accurate to a few ulps even when beta^step is close to 1.

    Computed as -expm1(step * log1p(-(1 - beta))) with 1 - beta taken in float64 first:
    `1 - ops.power(float32(beta), step)` loses about five digits for beta = 0.999 in the
    first steps (float32(0.999) is off by 1.3e-8, and the subtraction cancels), which
    moves RAdam's rho_t by about 0.03 and its rectification term by about 1%.
    """
    log_beta = ops.log1p(step_scalar(-(1.0 - float(beta))))
    return -ops.expm1(step * log_beta)


class AdaptiveOptimizer(keras.optimizers.Optimizer):
    """Base of kerasopt's first-order optimizers.

    Subclasses list their own constructor arguments in `_config_keys` (stored as
    attributes of the same name) and call `_remember(learning_rate)` after
    `super().__init__`. Subclasses whose update rule contains the weight decay term
    (RAdam, NovoGrad, LARS...) set `_decay_in_rule = True`; Keras's decoupled decay
    before the step is then skipped and `_decay_rate(variable)` gives the rate to
    use (None when the variable is excluded with `exclude_from_weight_decay`).
    """

    _config_keys: tuple[str, ...] = ()
    _decay_in_rule: bool = False

    def _remember(self, learning_rate: Any) -> None:
        self._given_learning_rate = learning_rate

    def _apply_weight_decay(self, variables: Any) -> None:
        if not self._decay_in_rule:
            super()._apply_weight_decay(variables)

    def _decay_rate(self, variable: Any) -> float | None:
        if not self.weight_decay or not self._use_weight_decay(variable):
            return None
        return self.weight_decay

    def _step(self) -> Any:
        """The 1-based step count t of the update being computed, in float32."""
        return step_scalar(self.iterations + 1)

    def get_config(self) -> dict[str, Any]:
        """Return the base Keras config plus this optimizer's own arguments, as given."""
        config = super().get_config()
        given = getattr(self, "_given_learning_rate", None)
        current = config.get("learning_rate")
        # A float learning rate lives in a float32 variable; report the value the user
        # gave unless something (a callback) has changed the variable since.
        if isinstance(given, float) and isinstance(current, float):
            if float(ops.convert_to_numpy(ops.cast(given, "float32"))) == current:
                config["learning_rate"] = given
        config.update({key: getattr(self, key) for key in self._config_keys})
        return config
