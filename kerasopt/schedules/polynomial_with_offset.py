"""`PolynomialWithOffset`: Keras's `PolynomialDecay`, starting `offset` steps late."""

from __future__ import annotations

from typing import Any

import keras
from keras import ops

from kerasopt.registry import register
from kerasopt.schedules._common import DTYPE, check_name, check_number


@register("schedule", aliases=["PolynomialDecayWithOffset"])
class PolynomialWithOffset(keras.optimizers.schedules.PolynomialDecay):
    """Polynomial decay that starts at step `offset` (Model Garden's `PolynomialDecayWithOffset`).

    `lr(step) = PolynomialDecay(...)(max(step - offset, 0))`, where Keras's
    `PolynomialDecay` computes, with `p = min(step, decay_steps) / decay_steps`,
    `(initial_learning_rate - end_learning_rate) * (1 - p) ** power + end_learning_rate`
    (with `cycle=True` the decay restarts every `decay_steps` steps, growing the period as
    Keras does). The math is Keras's own; this class only shifts the step.

    Model Garden (`official/modeling/optimization/lr_schedule.py`) evaluates the wrapped
    schedule at `step - offset` without clamping, so before the offset its rate rises
    *above* `initial_learning_rate` (the polynomial extrapolated to negative steps).
    kerasopt clamps at 0: before `offset` the rate is `initial_learning_rate`. Used after
    a `Warmup(..., offset_schedule=False)` of `offset` steps this reproduces Model Garden's
    warmup-then-offset-decay recipes.

    Args:
        initial_learning_rate: Learning rate until `offset` and at the start of the decay.
        decay_steps: Length of the decay, > 0.
        end_learning_rate: Learning rate at the end of the decay. Defaults to `0.0001`.
        power: Exponent of the polynomial. Defaults to `1.0`.
        cycle: Whether to restart the decay after `decay_steps`. Defaults to `False`.
        offset: Steps before the decay starts, an integer >= 0. Defaults to `0`.
        name: Name scope of the operations. Defaults to `"PolynomialWithOffset"`.

    Raises:
        ValueError: If an argument is out of range.

    Example:
        ```python
        lr = PolynomialWithOffset(0.1, decay_steps=100, end_learning_rate=0.0, offset=50)
        float(lr(0)), float(lr(50)), float(lr(100)), float(lr(150))  # (0.1, 0.1, 0.05, 0.0)
        ```
    """

    def __init__(
        self,
        initial_learning_rate: float,
        decay_steps: int,
        end_learning_rate: float = 0.0001,
        power: float = 1.0,
        cycle: bool = False,
        offset: int = 0,
        name: str = "PolynomialWithOffset",
    ) -> None:
        check_number("initial_learning_rate", initial_learning_rate, low=0.0)
        check_number("decay_steps", decay_steps, low=0, low_open=True)
        check_number("end_learning_rate", end_learning_rate, low=0.0)
        check_number("power", power, low=0.0, low_open=True)
        if not isinstance(cycle, bool):
            raise ValueError(f"`cycle` must be a bool. Received: cycle={cycle!r}")
        check_number("offset", offset, low=0, integer=True)
        check_name(name)
        super().__init__(
            initial_learning_rate=initial_learning_rate,
            decay_steps=decay_steps,
            end_learning_rate=end_learning_rate,
            power=power,
            cycle=cycle,
            name=name,
        )
        self.offset = offset

    def __call__(self, step: Any) -> Any:
        """Return the learning rate at `step` as a float32 scalar tensor."""
        shifted = ops.maximum(ops.cast(ops.convert_to_tensor(step), DTYPE) - float(self.offset), 0.0)
        return ops.cast(super().__call__(shifted), DTYPE)

    def get_config(self) -> dict[str, Any]:
        """Return the constructor arguments."""
        return {**super().get_config(), "offset": self.offset}
