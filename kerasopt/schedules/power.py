"""`Power`: `lr * step ** power`, optionally offset and with a final linear decay."""

from __future__ import annotations

from typing import Any

import keras
from keras import ops

from kerasopt.registry import register
from kerasopt.schedules._common import check_name, check_number, float_step


@register("schedule", aliases=["DirectPowerDecay", "PowerAndLinearDecay"])
class Power(keras.optimizers.schedules.LearningRateSchedule):
    """Power-law learning rate `initial_learning_rate * step ** power`, as Model Garden's.

    Re-implements two schedules of Model Garden's
    `official/modeling/optimization/lr_schedule.py` in one class. With
    `s = step - offset`:

    ```
    lr = initial_learning_rate * max(s, 1) ** power                    # DirectPowerDecay
    lr = lr * clip((T - s) / (T * linear_decay_fraction), 0, 1)         # PowerAndLinearDecay
    ```

    The second line applies only when `total_decay_steps` (`T`) is set: during the last
    `linear_decay_fraction` of the `T` steps the power law is multiplied by a linear ramp to
    zero, and the rate is 0 from `s = T` on. Steps before `offset` (and step 0, where
    `0 ** power` would be infinite for a negative `power`) use `s = 1`, i.e.
    `initial_learning_rate`, exactly as Model Garden clamps them. `power` is usually
    negative (`-0.5` gives an inverse-square-root decay); a positive power grows without
    bound. The aliases `DirectPowerDecay` and `PowerAndLinearDecay` resolve to this class
    with the same defaults as Model Garden's (`power=1.0`; `linear_decay_fraction=0.1`
    once `total_decay_steps` is given).

    Args:
        initial_learning_rate: The learning rate at `s <= 1`, > 0.
        power: The exponent. Defaults to `1.0`.
        offset: Steps to subtract from the optimizer step, an integer >= 0. Defaults to `0`.
        total_decay_steps: `T` above, an integer >= 1, or `None` for no linear decay.
            Defaults to `None`.
        linear_decay_fraction: Fraction of `T` with the linear decay, in [0, 1]; only with
            `total_decay_steps`. `None` means `0.1` when `total_decay_steps` is set.
            Defaults to `None`.
        name: Name scope of the operations. Defaults to `"Power"`.

    Raises:
        ValueError: If an argument is out of range, or `linear_decay_fraction` is given
            without `total_decay_steps`.

    Example:
        ```python
        lr = Power(0.1, power=-0.5)
        float(lr(0)), float(lr(4)), float(lr(100))  # (0.1, 0.05, 0.01)
        ```
    """

    def __init__(
        self,
        initial_learning_rate: float,
        power: float = 1.0,
        offset: int = 0,
        total_decay_steps: int | None = None,
        linear_decay_fraction: float | None = None,
        name: str = "Power",
    ) -> None:
        super().__init__()
        check_number("initial_learning_rate", initial_learning_rate, low=0.0, low_open=True)
        check_number("power", power)
        check_number("offset", offset, low=0, integer=True)
        if total_decay_steps is not None:
            check_number("total_decay_steps", total_decay_steps, low=1, integer=True)
        if linear_decay_fraction is not None:
            if total_decay_steps is None:
                raise ValueError(
                    "`linear_decay_fraction` needs `total_decay_steps`. Received: "
                    f"linear_decay_fraction={linear_decay_fraction!r} with total_decay_steps=None"
                )
            check_number("linear_decay_fraction", linear_decay_fraction, low=0.0, high=1.0)
        check_name(name)
        self.initial_learning_rate = initial_learning_rate
        self.power = power
        self.offset = offset
        self.total_decay_steps = total_decay_steps
        self.linear_decay_fraction = linear_decay_fraction
        self.name = name

    def __call__(self, step: Any) -> Any:
        """Return the learning rate at `step` as a float32 scalar tensor."""
        with keras.name_scope(self.name):
            s = float_step(step) - float(self.offset)
            lr = self.initial_learning_rate * ops.power(ops.maximum(s, 1.0), float(self.power))
            if self.total_decay_steps is not None:
                fraction = self.linear_decay_fraction
                if fraction is None:
                    fraction = 0.1
                span = float(self.total_decay_steps) * fraction
                if span > 0.0:
                    ramp = ops.clip((self.total_decay_steps - s) / span, 0.0, 1.0)
                    lr = lr * ramp
            return lr

    def get_config(self) -> dict[str, Any]:
        """Return the constructor arguments."""
        return {
            "initial_learning_rate": self.initial_learning_rate,
            "power": self.power,
            "offset": self.offset,
            "total_decay_steps": self.total_decay_steps,
            "linear_decay_fraction": self.linear_decay_fraction,
            "name": self.name,
        }
