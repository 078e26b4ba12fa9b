"""`Cyclical`: Smith's cyclical learning rates (triangular, triangular2, exp_range)."""

from __future__ import annotations

from typing import Any

import keras
from keras import ops

from kerasopt.registry import register
from kerasopt.schedules._common import check_choice, check_name, check_number, float_step

MODES = ("triangular", "triangular2", "exp_range")


@register("schedule", aliases=["CyclicalLearningRate", "TriangularCyclicalLearningRate", "CLR"])
class Cyclical(keras.optimizers.schedules.LearningRateSchedule):
    """Cyclical learning rate (Smith 2017, "Cyclical Learning Rates for Training NNs").

    The learning rate moves linearly between `initial_learning_rate` and
    `maximal_learning_rate` and back, one half cycle every `step_size` steps (Section 3.1,
    with the paper's `triangular` formulation):

    ```
    cycle = floor(1 + step / (2 * step_size))
    x = |step / step_size - 2 * cycle + 1|
    lr = initial + (maximal - initial) * max(0, 1 - x) * scale
    ```

    with `scale = 1` (`"triangular"`), `scale = 1 / 2 ** (cycle - 1)` (`"triangular2"`:
    the amplitude halves each cycle) or `scale = gamma ** step` (`"exp_range"`). These
    are TF Addons' `TriangularCyclicalLearningRate`, `Triangular2CyclicalLearningRate`
    and `ExponentialCyclicalLearningRate`, expressed with `mode` instead of a Python
    `scale_fn` so the schedule serializes. The aliases `CyclicalLearningRate` and
    `TriangularCyclicalLearningRate` resolve here (both default to `"triangular"`); for
    the other two TF Addons classes, set `mode`. Step 0 gives `initial_learning_rate`; the
    schedule cycles forever.

    Args:
        initial_learning_rate: Lower bound of the cycle, >= 0.
        maximal_learning_rate: Upper bound of the cycle, >= `initial_learning_rate`.
        step_size: Steps in half a cycle, an integer >= 1 (the paper suggests 2-10 epochs
            worth of steps).
        mode: `"triangular"`, `"triangular2"` or `"exp_range"`. Defaults to `"triangular"`.
        gamma: Per-step amplitude decay of `"exp_range"`, in (0, 1]; only with that mode.
            Defaults to `1.0`.
        name: Name scope of the operations. Defaults to `"Cyclical"`.

    Raises:
        ValueError: If an argument is out of range, or `gamma` is set for another mode.

    Example:
        ```python
        lr = Cyclical(1e-4, 1e-2, step_size=500, mode="triangular2")
        float(lr(500)), float(lr(1500))  # (0.01, 0.00505)
        ```
    """

    def __init__(
        self,
        initial_learning_rate: float,
        maximal_learning_rate: float,
        step_size: int,
        mode: str = "triangular",
        gamma: float = 1.0,
        name: str = "Cyclical",
    ) -> None:
        super().__init__()
        check_number("initial_learning_rate", initial_learning_rate, low=0.0)
        check_number("maximal_learning_rate", maximal_learning_rate, low=initial_learning_rate)
        check_number("step_size", step_size, low=1, integer=True)
        check_choice("mode", mode, MODES)
        check_number("gamma", gamma, low=0.0, low_open=True, high=1.0)
        if mode != "exp_range" and gamma != 1.0:
            raise ValueError(
                f"`gamma` is only used with mode='exp_range'. Received: gamma={gamma!r} "
                f"with mode={mode!r}"
            )
        check_name(name)
        self.initial_learning_rate = initial_learning_rate
        self.maximal_learning_rate = maximal_learning_rate
        self.step_size = step_size
        self.mode = mode
        self.gamma = gamma
        self.name = name

    def __call__(self, step: Any) -> Any:
        """Return the learning rate at `step` as a float32 scalar tensor."""
        with keras.name_scope(self.name):
            step = float_step(step)
            step_size = float(self.step_size)
            cycle = ops.floor(1.0 + step / (2.0 * step_size))
            x = ops.abs(step / step_size - 2.0 * cycle + 1.0)
            amplitude = (self.maximal_learning_rate - self.initial_learning_rate) * ops.maximum(
                0.0, 1.0 - x)
            if self.mode == "triangular2":
                amplitude = amplitude / ops.power(2.0, cycle - 1.0)
            elif self.mode == "exp_range":
                amplitude = amplitude * ops.power(float(self.gamma), step)
            return self.initial_learning_rate + amplitude

    def get_config(self) -> dict[str, Any]:
        """Return the constructor arguments."""
        return {
            "initial_learning_rate": self.initial_learning_rate,
            "maximal_learning_rate": self.maximal_learning_rate,
            "step_size": self.step_size,
            "mode": self.mode,
            "gamma": self.gamma,
            "name": self.name,
        }
