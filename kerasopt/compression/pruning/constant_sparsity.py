"""`ConstantSparsity`: prune to one fixed sparsity at every pruning step."""

from __future__ import annotations

from typing import Any

from kerasopt.compression.pruning.pruning_schedule import PruningSchedule
from kerasopt.registry import register


@register("pruning_schedule")
class ConstantSparsity(PruningSchedule):
    """Prune to `target_sparsity` at `begin_step` and every `frequency` steps after.

    The sparsity is the same at every step; masks are recomputed from the current weight
    magnitudes at steps `begin_step + k * frequency` up to `end_step` (inclusive), or for
    as long as training runs with `end_step=-1`. Parameters and step semantics are those
    of tensorflow-model-optimization's `ConstantSparsity`.

    Args:
        target_sparsity: Fraction of weights set to zero, in [0, 1).
        begin_step: First pruning step, an integer >= 0. Defaults to `0`.
        end_step: Last pruning step, an integer > `begin_step`, or -1 for no end.
            Defaults to `-1`.
        frequency: Steps between mask updates, an integer >= 1. Defaults to `100`.

    Raises:
        ValueError: If an argument is out of range.

    Example:
        >>> schedule = ConstantSparsity(0.75, begin_step=10, frequency=5)
        >>> schedule(15)
        (True, 0.75)
        >>> schedule(16)
        (False, 0.75)
        >>> schedule(5)
        (False, 0.75)
    """

    _CONFIG_KEYS = ("target_sparsity", "begin_step", "end_step", "frequency")

    def __init__(self, target_sparsity: float, begin_step: int = 0, end_step: int = -1,
                 frequency: int = 100) -> None:
        super().__init__(begin_step, end_step, frequency, allow_endless=True)
        self._check_sparsity("target_sparsity", target_sparsity)
        self.target_sparsity = target_sparsity

    def _sparsity(self, step: Any, xp: Any) -> Any:
        return self.target_sparsity
