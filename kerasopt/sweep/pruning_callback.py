"""Report a trial's per-epoch validation metric to Optuna and stop the trial when the pruner asks."""

from __future__ import annotations

import math
from typing import Any

import keras


class PruningCallback(keras.callbacks.Callback):
    """Optuna trial pruning inside `fit`, across every stage of a recipe.

    At the end of each epoch the monitored value is reported to the trial (steps count on
    across stages, so the pruner compares trials epoch by epoch). When
    `trial.should_prune()` says so, training stops after that epoch (`stop_training`), so
    the runner still restores the best weights, evaluates and writes a complete run
    directory; the sweep then marks the trial pruned. A later stage of a pruned trial
    raises `optuna.TrialPruned` in `on_train_begin`, before it trains or writes anything
    (the run directory then holds the finished stages, as an interrupted run does).

    Args:
        trial: The `optuna.Trial`.
        monitor: The per-epoch log to report (`val_accuracy`).

    Raises:
        ValueError: When `monitor` is not a `val_` name, or when it is missing from an epoch's logs.
    """

    def __init__(self, trial: Any, monitor: str) -> None:
        super().__init__()
        if not isinstance(monitor, str) or not monitor.startswith("val_"):
            raise ValueError("`monitor` must be a per-epoch validation log such as 'val_loss'. "
                             f"Received: monitor={monitor!r}")
        self.trial = trial
        # Not named `monitor`: the runner takes the first callback's `monitor` as the value that
        # restore_best watches, and a trial must train exactly as `kerasopt run` would.
        self.reported_log = monitor
        self.reported: list[float] = []
        self.pruned_at: int | None = None

    @property
    def pruned(self) -> bool:
        """Whether the pruner stopped this trial."""
        return self.pruned_at is not None

    def on_train_begin(self, logs: dict[str, Any] | None = None) -> None:
        if self.pruned:
            import optuna

            raise optuna.TrialPruned(f"pruned at epoch {self.pruned_at}")

    def on_epoch_end(self, epoch: int, logs: dict[str, Any] | None = None) -> None:
        logs = logs or {}
        if self.reported_log not in logs:
            if any(k.startswith("val_") for k in logs):
                raise ValueError(f"the sweep metric {self.reported_log!r} is not among the epoch logs; "
                                 f"available: {', '.join(sorted(k for k in logs if k.startswith('val_')))}")
            return  # no validation this epoch (validation_freq > 1)
        value = float(logs[self.reported_log])
        step = len(self.reported)
        self.reported.append(value)
        if not math.isfinite(value):
            self.pruned_at = step
            self.model.stop_training = True
            return
        self.trial.report(value, step)
        if self.trial.should_prune():
            self.pruned_at = step
            self.model.stop_training = True
