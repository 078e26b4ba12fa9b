"""`OneCycle`: Smith & Topin's one-cycle learning-rate policy, as PyTorch's `OneCycleLR`."""

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

ANNEAL = ("cos", "linear")


@register("schedule", aliases=["OneCycleLR", "OneCycleLearningRate"])
class OneCycle(keras.optimizers.schedules.LearningRateSchedule):
    """One-cycle learning-rate policy (Smith & Topin 2018, "Super-Convergence").

    Follows PyTorch's `torch.optim.lr_scheduler.OneCycleLR` step for step (the paper's
    Section 3 policy with the annealing choices PyTorch made). With
    `initial = max_learning_rate / div_factor` and `final = initial / final_div_factor`:

    - two phases (default): `initial -> max_learning_rate` over steps
      `0 .. pct_start * total_steps - 1`, then `max_learning_rate -> final` until step
      `total_steps - 1`;
    - `three_phase=True` (the paper's shape, Section 3): `initial -> max` until
      `pct_start * total_steps - 1`, `max -> initial` until `2 * pct_start * total_steps - 2`,
      then `initial -> final` until `total_steps - 1`.

    Each phase anneals with `anneal="cos"` (`end + (start - end) * (1 + cos(pi * pct)) / 2`)
    or `"linear"`, where `pct` is the fraction of the phase done (PyTorch's phase
    boundaries are floats; kerasopt keeps them). Step 0 is the first optimizer update.
    PyTorch raises past `total_steps`; kerasopt holds `final` from step `total_steps - 1` on.

    The paper also cycles momentum inversely to the learning rate. A learning-rate schedule
    only sets the learning rate, so momentum cycling is out of scope here.

    Args:
        max_learning_rate: Peak learning rate, > 0.
        total_steps: Length of the cycle in optimizer steps, an integer >= 2.
        pct_start: Fraction of the cycle spent increasing the learning rate, in (0, 1).
            Defaults to `0.3`.
        div_factor: `initial = max_learning_rate / div_factor`, > 0. Defaults to `25.0`.
        final_div_factor: `final = initial / final_div_factor`, > 0. Defaults to `1e4`.
        anneal: `"cos"` or `"linear"` (PyTorch's `anneal_strategy`). Defaults to `"cos"`.
        three_phase: Whether to use the three-phase shape. Defaults to `False`.
        name: Name scope of the operations. Defaults to `"OneCycle"`.

    Raises:
        ValueError: If an argument is out of range, or if `pct_start` and `total_steps`
            leave a phase without at least one step (PyTorch divides by zero there).

    Example:
        ```python
        lr = OneCycle(max_learning_rate=0.1, total_steps=100)
        float(lr(0)), float(lr(29)), float(lr(99))  # (0.004, 0.1, 4e-07)
        ```
    """

    def __init__(
        self,
        max_learning_rate: float,
        total_steps: int,
        pct_start: float = 0.3,
        div_factor: float = 25.0,
        final_div_factor: float = 1e4,
        anneal: str = "cos",
        three_phase: bool = False,
        name: str = "OneCycle",
    ) -> None:
        super().__init__()
        check_number("max_learning_rate", max_learning_rate, low=0.0, low_open=True)
        check_number("total_steps", total_steps, low=2, integer=True)
        check_number("pct_start", pct_start, low=0.0, low_open=True, high=1.0, high_open=True)
        check_number("div_factor", div_factor, low=0.0, low_open=True)
        check_number("final_div_factor", final_div_factor, low=0.0, low_open=True)
        check_choice("anneal", anneal, ANNEAL)
        if not isinstance(three_phase, bool):
            raise ValueError(f"`three_phase` must be a bool. Received: three_phase={three_phase!r}")
        check_name(name)
        self.max_learning_rate = max_learning_rate
        self.total_steps = total_steps
        self.pct_start = pct_start
        self.div_factor = div_factor
        self.final_div_factor = final_div_factor
        self.anneal = anneal
        self.three_phase = three_phase
        self.name = name
        self._phases = self._build_phases()

    def _build_phases(self) -> list[tuple[float, float, float]]:
        """Return `(end_step, start_lr, end_lr)` per phase, as PyTorch's `OneCycleLR`."""
        initial = self.max_learning_rate / self.div_factor
        final = initial / self.final_div_factor
        up_end = float(self.pct_start * self.total_steps) - 1.0
        last = float(self.total_steps - 1)
        if self.three_phase:
            down_end = float(2 * self.pct_start * self.total_steps) - 2.0
            phases = [(up_end, initial, self.max_learning_rate),
                      (down_end, self.max_learning_rate, initial),
                      (last, initial, final)]
        else:
            phases = [(up_end, initial, self.max_learning_rate),
                      (last, self.max_learning_rate, final)]
        start = 0.0
        for end, _, _ in phases:
            if end <= start:
                raise ValueError(
                    "`pct_start` and `total_steps` must give every phase at least one step "
                    f"(phase boundaries {[round(p[0], 6) for p in phases]} must increase from "
                    f"0). Received: pct_start={self.pct_start!r}, "
                    f"total_steps={self.total_steps!r}, three_phase={self.three_phase!r}"
                )
            start = end
        return phases

    def __call__(self, step: Any) -> Any:
        """Return the learning rate at `step` as a float32 scalar tensor."""
        with keras.name_scope(self.name):
            step = float_step(step)
            values = []
            start = 0.0
            for end, lr_start, lr_end in self._phases:
                pct = fraction(step, start, end - start)
                values.append(interpolate(lr_start, lr_end, pct, self.anneal))
                start = end
            lr = values[-1]
            for (end, _, _), value in zip(reversed(self._phases[:-1]), reversed(values[:-1]), strict=True):
                lr = ops.where(step <= end, value, lr)
            return lr

    def get_config(self) -> dict[str, Any]:
        """Return the constructor arguments."""
        return {
            "max_learning_rate": self.max_learning_rate,
            "total_steps": self.total_steps,
            "pct_start": self.pct_start,
            "div_factor": self.div_factor,
            "final_div_factor": self.final_div_factor,
            "anneal": self.anneal,
            "three_phase": self.three_phase,
            "name": self.name,
        }
