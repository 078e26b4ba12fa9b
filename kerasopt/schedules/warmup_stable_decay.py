"""`WarmupStableDecay`: the warmup-stable-decay ("WSD", trapezoidal) schedule."""

from __future__ import annotations

from typing import Any

import keras
from keras import ops

from kerasopt.registry import register
from kerasopt.schedules._common import (
    check_choice,
    check_name,
    check_number,
    float_step,
    fraction,
    interpolate,
)

DECAY_TYPES = {"linear": "linear", "cosine": "cos", "sqrt": "sqrt"}


@register("schedule", aliases=["WSD"])
class WarmupStableDecay(keras.optimizers.schedules.LearningRateSchedule):
    """Warmup, then a constant plateau, then a short decay (the "WSD" schedule).

    Three phases, all lengths in optimizer steps (a recipe runner converts epochs or
    fractions to steps before building the schedule):

    1. warmup, steps `[0, warmup_steps)`: linear from `initial_learning_rate` to
       `learning_rate`;
    2. stable, steps `[warmup_steps, warmup_steps + stable_steps)`: `learning_rate`;
    3. decay, the next `decay_steps` steps: from `learning_rate` to `final_learning_rate`
       with `x` the fraction of the decay done:
       `"linear"`: `1 - x`; `"cosine"`: `(1 + cos(pi x)) / 2`; `"sqrt"`: `1 - sqrt(x)`,
       the "1-sqrt" cooldown of Hägele et al. 2024 ("Scaling Laws and Compute-Optimal
       Training Beyond Fixed Training Durations", Section 3), which they found to match
       cosine schedules;

    and `final_learning_rate` afterwards. WSD was popularised by Hu et al. 2024
    ("MiniCPM", Section 4) because the stable phase can be extended or branched into a
    decay at any point without planning the training length up front.

    Args:
        learning_rate: The plateau (peak) learning rate, > 0.
        warmup_steps: Steps of the linear warmup, an integer >= 0.
        stable_steps: Steps at the peak, an integer >= 0.
        decay_steps: Steps of the decay, an integer >= 1.
        decay_type: `"linear"`, `"cosine"` or `"sqrt"`. Defaults to `"linear"`.
        initial_learning_rate: Learning rate at step 0, in [0, `learning_rate`]. Defaults
            to `0.0`.
        final_learning_rate: Learning rate at and after the end of the decay, in
            [0, `learning_rate`]. Defaults to `0.0`.
        name: Name scope of the operations. Defaults to `"WarmupStableDecay"`.

    Raises:
        ValueError: If an argument is out of range.

    Example:
        ```python
        lr = WarmupStableDecay(1e-3, warmup_steps=100, stable_steps=800, decay_steps=100)
        float(lr(50)), float(lr(500)), float(lr(950))  # (0.0005, 0.001, 0.0005)
        ```
    """

    def __init__(
        self,
        learning_rate: float,
        warmup_steps: int,
        stable_steps: int,
        decay_steps: int,
        decay_type: str = "linear",
        initial_learning_rate: float = 0.0,
        final_learning_rate: float = 0.0,
        name: str = "WarmupStableDecay",
    ) -> None:
        super().__init__()
        check_number("learning_rate", learning_rate, low=0.0, low_open=True)
        check_number("warmup_steps", warmup_steps, low=0, integer=True)
        check_number("stable_steps", stable_steps, low=0, integer=True)
        check_number("decay_steps", decay_steps, low=1, integer=True)
        check_choice("decay_type", decay_type, DECAY_TYPES)
        check_number("initial_learning_rate", initial_learning_rate, low=0.0, high=learning_rate)
        check_number("final_learning_rate", final_learning_rate, low=0.0, high=learning_rate)
        check_name(name)
        self.learning_rate = learning_rate
        self.warmup_steps = warmup_steps
        self.stable_steps = stable_steps
        self.decay_steps = decay_steps
        self.decay_type = decay_type
        self.initial_learning_rate = initial_learning_rate
        self.final_learning_rate = final_learning_rate
        self.name = name

    def __call__(self, step: Any) -> Any:
        """Return the learning rate at `step` as a float32 scalar tensor."""
        with keras.name_scope(self.name):
            step = float_step(step)
            decay_start = float(self.warmup_steps + self.stable_steps)
            x = fraction(step, decay_start, self.decay_steps)
            lr = interpolate(self.learning_rate, self.final_learning_rate, x,
                             DECAY_TYPES[self.decay_type])
            if self.warmup_steps > 0:
                pct = fraction(step, 0.0, self.warmup_steps)
                warm = interpolate(self.initial_learning_rate, self.learning_rate, pct, "linear")
                lr = ops.where(step < self.warmup_steps, warm, lr)
            return lr

    def get_config(self) -> dict[str, Any]:
        """Return the constructor arguments."""
        return {
            "learning_rate": self.learning_rate,
            "warmup_steps": self.warmup_steps,
            "stable_steps": self.stable_steps,
            "decay_steps": self.decay_steps,
            "decay_type": self.decay_type,
            "initial_learning_rate": self.initial_learning_rate,
            "final_learning_rate": self.final_learning_rate,
            "name": self.name,
        }
