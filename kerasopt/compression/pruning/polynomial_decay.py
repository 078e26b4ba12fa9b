"""`PolynomialDecay`: the gradual pruning schedule of Zhu & Gupta (2017)."""

from __future__ import annotations

from typing import Any

from kerasopt.compression.pruning.pruning_schedule import PruningSchedule
from kerasopt.registry import register
from kerasopt.schedules._common import check_number


@register("pruning_schedule")
class PolynomialDecay(PruningSchedule):
    """Raise sparsity from `initial_sparsity` to `final_sparsity` along a polynomial.

    Zhu & Gupta, "To prune, or not to prune: exploring the efficacy of pruning for model
    compression" (2017, arXiv:1710.01878), Eq. 1, with progress measured in steps from
    `begin_step` to `end_step` (their `n * Δt` is `end_step - begin_step`):

        s_t = s_f + (s_i - s_f) * (1 - clip((t - begin_step) / (end_step - begin_step), 0, 1)) ** power

    Sparsity rises quickly at first, while many redundant weights remain, then levels off
    at `final_sparsity`. Masks are updated only at `begin_step + k * frequency` up to
    `end_step` inclusive (as tensorflow-model-optimization's `PolynomialDecay`), so the
    final sparsity is reached at `end_step` only when `end_step - begin_step` is a
    multiple of `frequency`; otherwise the last update uses the sparsity of the last
    gated step before it.

    Args:
        initial_sparsity: Sparsity at `begin_step`, in [0, 1).
        final_sparsity: Sparsity at and after `end_step`, in [0, 1).
        begin_step: First pruning step, an integer >= 0.
        end_step: Step at which `final_sparsity` is reached, an integer > `begin_step`.
        power: Exponent of the decay, a number > 0 (3 in the paper). Defaults to `3`.
        frequency: Steps between mask updates, an integer >= 1. Defaults to `100`.

    Raises:
        ValueError: If an argument is out of range.

    Example:
        >>> schedule = PolynomialDecay(0.0, 0.8, begin_step=0, end_step=100, frequency=50)
        >>> schedule(0)
        (True, 0.0)
        >>> should_prune, sparsity = schedule(50)
        >>> should_prune, round(sparsity, 6)  # 0.8 + (0 - 0.8) * 0.5 ** 3
        (True, 0.7)
        >>> schedule(100), schedule(150)
        ((True, 0.8), (False, 0.8))
    """

    _CONFIG_KEYS = ("initial_sparsity", "final_sparsity", "begin_step", "end_step", "power",
                    "frequency")

    def __init__(self, initial_sparsity: float, final_sparsity: float, begin_step: int,
                 end_step: int, power: float = 3, frequency: int = 100) -> None:
        super().__init__(begin_step, end_step, frequency)
        self._check_sparsity("initial_sparsity", initial_sparsity)
        self._check_sparsity("final_sparsity", final_sparsity)
        check_number("power", power, low=0, low_open=True)
        self.initial_sparsity = initial_sparsity
        self.final_sparsity = final_sparsity
        self.power = power

    def _sparsity(self, step: Any, xp: Any) -> Any:
        span = float(self.end_step - self.begin_step)
        progress = xp.clip(xp.divide(xp.subtract(step, self.begin_step), span), 0.0, 1.0)
        remaining = xp.power(xp.subtract(1.0, progress), float(self.power))
        return xp.add(self.final_sparsity,
                      xp.multiply(self.initial_sparsity - self.final_sparsity, remaining))
