"""`InverseSqrt`: the Transformer ("Noam") warmup + inverse-square-root decay."""

from __future__ import annotations

from typing import Any

import keras
from keras import ops

from kerasopt.registry import register
from kerasopt.schedules._common import check_name, check_number, float_step


@register("schedule", aliases=["Noam", "InverseSquareRoot"])
class InverseSqrt(keras.optimizers.schedules.LearningRateSchedule):
    """Linear warmup, then decay proportional to `1 / sqrt(step)`, peaking at `learning_rate`.

    Vaswani et al. 2017 ("Attention Is All You Need", Section 5.3, Eq. 3) use
    `d_model ** -0.5 * min(step ** -0.5, step * warmup_steps ** -1.5)`. Its peak, at
    `step = warmup_steps`, is `(d_model * warmup_steps) ** -0.5`, so the scale is tied to the
    model width. kerasopt normalises the formula so that the peak equals `learning_rate`:

    ```
    lr(step) = learning_rate * min(step / warmup_steps, sqrt(warmup_steps / step))
    ```

    This equals the paper's schedule when `learning_rate = (d_model * warmup_steps) ** -0.5`,
    and matches fairseq's `inverse_sqrt` with `warmup_init_lr = 0`. The paper counts steps
    from 1; Keras counts optimizer updates from 0, so `lr(0) = 0` (the first update is
    empty, as for every warmup that starts from zero) and the peak is at update
    `warmup_steps`.

    Args:
        learning_rate: The peak learning rate, reached at `step = warmup_steps`, > 0.
        warmup_steps: Steps of the linear warmup, an integer >= 1.
        name: Name scope of the operations. Defaults to `"InverseSqrt"`.

    Raises:
        ValueError: If an argument is out of range.

    Example:
        ```python
        lr = InverseSqrt(1e-3, warmup_steps=4000)
        float(lr(2000)), float(lr(4000)), float(lr(16000))  # (0.0005, 0.001, 0.0005)
        ```
    """

    def __init__(self, learning_rate: float, warmup_steps: int, name: str = "InverseSqrt") -> None:
        super().__init__()
        check_number("learning_rate", learning_rate, low=0.0, low_open=True)
        check_number("warmup_steps", warmup_steps, low=1, integer=True)
        check_name(name)
        self.learning_rate = learning_rate
        self.warmup_steps = warmup_steps
        self.name = name

    def __call__(self, step: Any) -> Any:
        """Return the learning rate at `step` as a float32 scalar tensor."""
        with keras.name_scope(self.name):
            step = ops.maximum(float_step(step), 0.0)
            warmup = float(self.warmup_steps)
            rising = step / warmup
            # max(step, 1) only guards the unused branch of `minimum` at step 0.
            decaying = ops.sqrt(warmup / ops.maximum(step, 1.0))
            return self.learning_rate * ops.minimum(rising, decaying)

    def get_config(self) -> dict[str, Any]:
        """Return the constructor arguments."""
        return {
            "learning_rate": self.learning_rate,
            "warmup_steps": self.warmup_steps,
            "name": self.name,
        }
