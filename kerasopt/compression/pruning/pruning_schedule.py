"""`PruningSchedule`: when to update pruning masks, and to which sparsity.

A pruning schedule maps a pruning step to a pair `(should_prune, sparsity)`: whether masks
are recomputed before that batch, and the fraction of weights they set to zero. Steps
count as in tensorflow-model-optimization: the k-th training batch run with pruning is
step k (1, 2, ...; each :class:`~kerasopt.compression.pruning.PruneLowMagnitude` wrapper
counts the batches already run, and the next one is that count + 1), so the schedule's
value at `end_step` is the sparsity after `end_step` batches. The step gate is tfmot's
too: masks are updated at `begin_step`, `begin_step + frequency`, ... up to and including
`end_step` (`end_step=-1` means without end); step 0 comes before any batch, so a
schedule with `begin_step=0` first prunes at step `frequency`.

Called with a Python integer, a schedule computes on the host with NumPy and returns
`(bool, float)` (what :class:`~kerasopt.compression.pruning.UpdatePruning` does once per
batch, without touching the device); called with a tensor it computes with `keras.ops`
and returns a boolean and a float32 tensor, so it also works inside a traced function.
Both paths evaluate the same expression, written once against either namespace.
"""

from __future__ import annotations

import numbers
from typing import Any

import numpy as np
from keras import ops

from kerasopt.schedules._common import check_number


class PruningSchedule:
    """Base class of pruning schedules: the step gate, validation and config handling.

    A subclass stores its constructor arguments as attributes of the same names, lists
    them in `_CONFIG_KEYS`, validates them in `__init__` (the helpers here produce the
    messages) and implements `_sparsity(step, xp)` with functions of `xp`, which is
    either `numpy` or `keras.ops` (their names agree: `clip`, `divide`, `power`...).

    Args:
        begin_step: First step at which masks are updated, an integer >= 0.
        end_step: Last step at which masks are updated, an integer > `begin_step`, or -1
            for no end when the subclass allows it.
        frequency: Masks are updated every this many steps from `begin_step`, an
            integer >= 1.
        allow_endless: Whether `end_step=-1` is accepted. Defaults to `False`.

    Raises:
        ValueError: If an argument is out of range, or the schedule would never prune
            (`begin_step=0` and `frequency > end_step`).
    """

    _CONFIG_KEYS: tuple[str, ...] = ()

    def __init__(self, begin_step: int, end_step: int, frequency: int, *,
                 allow_endless: bool = False) -> None:
        check_number("begin_step", begin_step, low=0, integer=True)
        endless_ok = allow_endless and isinstance(end_step, numbers.Integral) and end_step == -1
        if not endless_ok:
            if not isinstance(end_step, numbers.Integral) or isinstance(end_step, bool) or (
                    end_step <= begin_step):
                allowed = f"an integer > begin_step ({begin_step})"
                if allow_endless:
                    allowed += " or -1 (no end)"
                raise ValueError(f"`end_step` must be {allowed}. Received: end_step={end_step!r}")
        check_number("frequency", frequency, low=1, integer=True)
        self.begin_step = int(begin_step)
        self.end_step = int(end_step)
        self.frequency = int(frequency)
        if self.end_step >= 0 and self.first_pruning_step() > self.end_step:
            raise ValueError(
                f"This schedule never prunes: training steps count from 1 (the k-th batch is "
                f"step k, as in tensorflow-model-optimization), so with begin_step=0 the first "
                f"pruning step is `frequency` ({self.frequency}), after end_step "
                f"({self.end_step}). Use frequency <= end_step - begin_step, or begin_step >= 1. "
                f"Received: begin_step={begin_step!r}, end_step={end_step!r}, "
                f"frequency={frequency!r}")

    def first_pruning_step(self) -> int:
        """The first training step (counted from 1) at which masks are updated.

        `begin_step`, or `frequency` when `begin_step` is 0 (step 0 comes before any batch).
        """
        return self.begin_step if self.begin_step >= 1 else self.frequency

    @staticmethod
    def _check_sparsity(name: str, value: Any) -> None:
        check_number(name, value, low=0.0, high=1.0, high_open=True)

    def _should_prune(self, step: Any, xp: Any) -> Any:
        in_range = xp.greater_equal(step, self.begin_step)
        if self.end_step >= 0:
            in_range = xp.logical_and(in_range, xp.less_equal(step, self.end_step))
        on_turn = xp.equal(xp.mod(xp.subtract(step, self.begin_step), self.frequency), 0)
        return xp.logical_and(in_range, on_turn)

    def _sparsity(self, step: Any, xp: Any) -> Any:
        raise NotImplementedError(f"{type(self).__name__} must implement `_sparsity(step, xp)`.")

    def __call__(self, step: Any) -> tuple[Any, Any]:
        """Return `(should_prune, sparsity)` at `step`.

        Args:
            step: The pruning step: a Python or NumPy integer, or an integer tensor.

        Returns:
            `(bool, float)` for an integer step; a boolean tensor and a float32 tensor for
            a tensor step.
        """
        if isinstance(step, numbers.Integral) and not isinstance(step, bool):
            host = np.int64(step)
            return bool(self._should_prune(host, np)), float(self._sparsity(host, np))
        tensor = ops.convert_to_tensor(step)
        return self._should_prune(tensor, ops), ops.cast(self._sparsity(tensor, ops), "float32")

    def get_config(self) -> dict[str, Any]:
        """Return the constructor arguments."""
        return {key: getattr(self, key) for key in self._CONFIG_KEYS}

    @classmethod
    def from_config(cls, config: dict[str, Any]) -> PruningSchedule:
        """Rebuild the schedule from `get_config()`."""
        return cls(**config)

    def __repr__(self) -> str:
        args = ", ".join(f"{k}={v!r}" for k, v in self.get_config().items())
        return f"{type(self).__name__}({args})"
