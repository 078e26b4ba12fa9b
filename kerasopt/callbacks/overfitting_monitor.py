"""`OverfittingMonitor`: track the train/validation gap, warn or stop when it stays too wide."""

from __future__ import annotations

import math
import os
import warnings
from typing import Any

from kerasopt.callbacks.monitor import MonitorCallback, check_choice, check_int
from kerasopt.registry import register

ACTIONS = ("warn", "stop")
SUBFOLDER = "overfitting_monitor"


@register("callback")
class OverfittingMonitor(MonitorCallback):
    """Track the generalization gap each epoch; warn or stop once it stays above a bound.

    The gap is how much worse the validation metric is than the training one:
    `val - train` for a minimized metric (losses) and `train - val` for a maximized
    one (accuracy), the direction coming from `mode` (see `MonitorCallback`). With
    `relative=True` it is divided by `|train|`, so `max_gap=0.2` means "validation
    is 20% worse than training". A gap above `max_gap` for `patience` consecutive
    epochs triggers the action once per streak: `"warn"` issues a `UserWarning`,
    `"stop"` sets `model.stop_training`. `overfit_epoch` records the first epoch
    that triggered it, `gaps` the gap of every epoch with validation.

    The gap is added to the epoch logs as `overfitting_gap`, so `History` records it
    and a `keras.callbacks.TensorBoard` placed *after* this callback writes it. With
    `log_dir` set, the callback also writes the scalar `epoch_overfitting_gap` to
    `<log_dir>/overfitting_monitor` itself (TensorFlow is imported only then).
    Epochs without validation (`fit(validation_freq=k)`) are skipped.

    Args:
        train_metric: Training key of `logs`. Defaults to `"loss"`.
        val_metric: Validation key of `logs`. Defaults to `"val_loss"`.
        mode: `"auto"`, `"min"` or `"max"`: direction of the metric. Defaults to
            `"auto"`.
        max_gap: Largest tolerated gap (a fraction of `|train|` when `relative`).
            Defaults to `0.2`.
        relative: Divide the gap by `|train|`. Defaults to `True`.
        patience: Consecutive epochs above `max_gap` before acting. Defaults to `3`.
        action: `"warn"` or `"stop"`. Defaults to `"warn"`.
        log_dir: TensorBoard root folder, or `None` for no event files. Defaults to
            `None`.

    Raises:
        ValueError: If an argument is out of range.

    Example:
        ```python
        monitor = OverfittingMonitor(max_gap=0.25, patience=2, action="stop")
        history = model.fit(x, y, validation_split=0.25, epochs=100, callbacks=[monitor])
        print(monitor.overfit_epoch, history.history["overfitting_gap"])
        ```
    """

    def __init__(
        self,
        train_metric: str = "loss",
        val_metric: str = "val_loss",
        mode: str = "auto",
        max_gap: float = 0.2,
        relative: bool = True,
        patience: int = 3,
        action: str = "warn",
        log_dir: str | None = None,
    ) -> None:
        super().__init__(val_metric, mode)
        if not isinstance(train_metric, str) or not train_metric:
            raise ValueError("`train_metric` must be a non-empty string. "
                             f"Received: train_metric={train_metric!r}")
        if (isinstance(max_gap, bool) or not isinstance(max_gap, (int, float))
                or not 0 <= max_gap < math.inf):
            raise ValueError(f"`max_gap` must be a finite number >= 0. Received: max_gap={max_gap!r}")
        if not isinstance(relative, bool):
            raise ValueError(f"`relative` must be True or False. Received: relative={relative!r}")
        check_int("patience", patience, 1)
        check_choice("action", action, ACTIONS)
        if log_dir is not None and (not isinstance(log_dir, str) or not log_dir):
            raise ValueError(f"`log_dir` must be None or a non-empty string. Received: log_dir={log_dir!r}")
        self.train_metric = train_metric
        self.val_metric = val_metric
        self.max_gap = max_gap
        self.relative = relative
        self.patience = patience
        self.action = action
        self.log_dir = log_dir
        self._writer: Any = None
        self._resumed = False
        self._reset()

    def _reset(self) -> None:
        self.wait = 0
        self.triggered = False
        self.overfit_epoch: int | None = None
        self.gaps: list[float] = []

    def on_train_begin(self, logs: dict[str, Any] | None = None) -> None:
        if not self._resumed:
            self._reset()
        self._resumed = False

    def gap(self, train: float, val: float) -> float:
        """The gap between a training and a validation value, as configured."""
        gap = val - train if self.direction == "min" else train - val
        if not self.relative:
            return gap
        if train == 0:
            return 0.0 if gap == 0 else math.copysign(math.inf, gap)
        return gap / abs(train)

    def on_epoch_end(self, epoch: int, logs: dict[str, Any] | None = None) -> None:
        train = self.get_monitor_value(logs, self.train_metric)
        val = self.get_monitor_value(logs, self.val_metric)
        if train is None or val is None:
            return
        gap = self.gap(train, val)
        if logs is not None:
            logs["overfitting_gap"] = gap
        self.gaps.append(gap)
        if self.log_dir is not None:
            self._write(epoch, gap)
        if not gap > self.max_gap:
            self.wait = 0
            self.triggered = False
            return
        self.wait += 1
        if self.wait < self.patience or self.triggered:
            return
        self.triggered = True
        if self.overfit_epoch is None:
            self.overfit_epoch = epoch
        kind = "relative " if self.relative else ""
        message = (f"Epoch {epoch + 1}: the {kind}gap between {self.val_metric} ({val:.4g}) and "
                   f"{self.train_metric} ({train:.4g}) is {gap:.4g} > max_gap={self.max_gap} "
                   f"for {self.wait} epoch(s): the model is overfitting.")
        if self.action == "stop":
            self.model.stop_training = True
            print(f"OverfittingMonitor: {message} Stopping training.")
        else:
            warnings.warn(message, UserWarning, stacklevel=2)

    def _write(self, epoch: int, gap: float) -> None:
        import tensorflow as tf

        if self._writer is None:
            self._writer = tf.summary.create_file_writer(os.path.join(self.log_dir, SUBFOLDER))
        with self._writer.as_default():
            tf.summary.scalar("epoch_overfitting_gap", gap, step=epoch)
        self._writer.flush()

    def on_train_end(self, logs: dict[str, Any] | None = None) -> None:
        if self._writer is not None:
            self._writer.close()
            self._writer = None

    def state_dict(self) -> dict[str, Any]:
        """Return the resumable state (`wait`, `triggered`, `overfit_epoch`, `gaps`)."""
        return {"wait": self.wait, "triggered": self.triggered,
                "overfit_epoch": self.overfit_epoch, "gaps": [float(g) for g in self.gaps]}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        """Restore a state from `state_dict()`; the next `on_train_begin` keeps it."""
        self.wait = int(state["wait"])
        self.triggered = bool(state["triggered"])
        self.overfit_epoch = None if state["overfit_epoch"] is None else int(state["overfit_epoch"])
        self.gaps = [float(g) for g in state["gaps"]]
        self._resumed = True

    def get_config(self) -> dict[str, Any]:
        """Return the constructor arguments."""
        return {"train_metric": self.train_metric, "val_metric": self.val_metric,
                "mode": self.mode, "max_gap": self.max_gap, "relative": self.relative,
                "patience": self.patience, "action": self.action, "log_dir": self.log_dir}

    @classmethod
    def from_config(cls, config: dict[str, Any]) -> OverfittingMonitor:
        """Build an `OverfittingMonitor` from `get_config()` output."""
        return cls(**config)
