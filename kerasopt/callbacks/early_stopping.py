"""`EarlyStopping`: Keras's early stopping, plus thresholds, NaN checks and resumable state."""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from kerasopt.callbacks.monitor import (
    MonitorCallback,
    check_int,
    check_optional_finite,
)
from kerasopt.registry import register

STOP_REASONS = ("patience", "threshold", "divergence", "non_finite")


@register("callback")
class EarlyStopping(MonitorCallback):
    """Stop training when a monitored metric stops improving, reaches a target or diverges.

    Patience, `min_delta`, `baseline`, `start_from_epoch` and `restore_best_weights`
    behave exactly as in `keras.callbacks.EarlyStopping` (Keras 3.15): every monitored
    epoch increments `wait`; an improvement over `best` by more than `min_delta`
    records `best`, `best_epoch` (and the weights) and resets `wait` to 0 only when it
    also beats `baseline`; training stops once `wait >= patience` (never on epoch 0);
    best weights are restored at the end of training whenever they were recorded.

    kerasopt adds, after PyTorch Lightning's `EarlyStopping`:
    - `stopping_threshold`: stop as soon as the metric is at least this good;
    - `divergence_threshold`: stop as soon as it is at least this bad;
    - `check_finite`: stop as soon as it is NaN or infinite;
    - `min_delta_mode="relative"`: `min_delta` as a fraction of `|best|`;
    - `stop_reason`: why training stopped (`"patience"`, `"threshold"`,
      `"divergence"`, `"non_finite"`; `None` while it has not stopped);
    - strict checks: a bad argument or a missing key raises instead of warning.
    Divergence and non-finite checks also run during the `start_from_epoch` warm-up
    (a blow-up is not something to wait out); improvement tracking, patience and
    `stopping_threshold` start after it. Non-finite values are never improvements.

    Resuming: `state_dict()` returns `wait`, `best`, `best_epoch`, `stopped_epoch` and
    `stop_reason` as plain JSON-serializable Python. The best weights are not JSON:
    `state_dict(include_weights=True)` adds them under `"best_weights"` (a list of
    NumPy arrays) for the caller to store separately (e.g. `np.savez`);
    `load_state_dict` accepts them back, as arrays or nested lists. With
    `restore_best_weights=True`, a state that has a best epoch but no weights is
    rejected, since the restore at the end could not be done. A loaded state is kept
    by the next `on_train_begin` (which otherwise resets, so that an instance can be
    reused across `fit()` calls); epochs are counted as `fit` counts them, so resume
    with `fit(initial_epoch=...)`.

    Args:
        monitor: Key of `logs` to monitor. Defaults to `"val_loss"`.
        mode: `"auto"`, `"min"` or `"max"` (see `MonitorCallback`). Defaults to `"auto"`.
        min_delta: Smallest change that counts as an improvement. Defaults to `0.0`.
        min_delta_mode: `"absolute"` or `"relative"` (to `|best|`). Defaults to
            `"absolute"`.
        patience: Epochs without improvement before stopping. Defaults to `0`.
        start_from_epoch: Warm-up epochs before improvement is monitored.
            Defaults to `0`.
        baseline: A value the metric must beat for `wait` to reset. Defaults to `None`.
        stopping_threshold: Stop once the metric is at least this good. Defaults to
            `None`.
        divergence_threshold: Stop once the metric is at least this bad. Defaults to
            `None`.
        check_finite: Stop when the metric is NaN or infinite. Defaults to `True`.
        restore_best_weights: Restore the weights of the best epoch when training
            ends. Defaults to `False`.
        verbose: 0 is silent, 1 prints when and why training stopped. Defaults to `0`.

    Raises:
        ValueError: If an argument is out of range, or if `stopping_threshold` is not
            better than `divergence_threshold` for the monitored direction.

    Example:
        ```python
        stopper = EarlyStopping(monitor="val_loss", patience=3, divergence_threshold=10.0)
        model.fit(x, y, validation_split=0.2, epochs=50, callbacks=[stopper])
        print(stopper.stop_reason, stopper.best_epoch, stopper.best)
        ```
    """

    def __init__(
        self,
        monitor: str = "val_loss",
        mode: str = "auto",
        min_delta: float = 0.0,
        min_delta_mode: str = "absolute",
        patience: int = 0,
        start_from_epoch: int = 0,
        baseline: float | None = None,
        stopping_threshold: float | None = None,
        divergence_threshold: float | None = None,
        check_finite: bool = True,
        restore_best_weights: bool = False,
        verbose: int = 0,
    ) -> None:
        super().__init__(monitor, mode, min_delta, min_delta_mode)
        check_int("patience", patience, 0)
        check_int("start_from_epoch", start_from_epoch, 0)
        for name, value in (("baseline", baseline), ("stopping_threshold", stopping_threshold),
                            ("divergence_threshold", divergence_threshold)):
            check_optional_finite(name, value)
        for name, value in (("check_finite", check_finite),
                            ("restore_best_weights", restore_best_weights)):
            if not isinstance(value, bool):
                raise ValueError(f"`{name}` must be True or False. Received: {name}={value!r}")
        check_int("verbose", verbose, 0)
        self.patience = patience
        self.start_from_epoch = start_from_epoch
        self.baseline = baseline
        self.stopping_threshold = stopping_threshold
        self.divergence_threshold = divergence_threshold
        self.check_finite = check_finite
        self.restore_best_weights = restore_best_weights
        self.verbose = verbose
        if mode != "auto":
            self._on_direction_resolved(mode)
        self._resumed = False
        self._reset()

    def _on_direction_resolved(self, direction: str) -> None:
        low, high = self.stopping_threshold, self.divergence_threshold
        if low is None or high is None:
            return
        if (direction == "min" and low >= high) or (direction == "max" and low <= high):
            relation = "<" if direction == "min" else ">"
            raise ValueError(
                f"`stopping_threshold` must be {relation} `divergence_threshold` when "
                f"{self.monitor!r} is {'minimized' if direction == 'min' else 'maximized'}. "
                f"Received: stopping_threshold={low!r}, divergence_threshold={high!r}"
            )

    def _reset(self) -> None:
        self.wait = 0
        self.best: float | None = None
        self.best_epoch = 0
        self.best_weights: list[np.ndarray] | None = None
        self.stopped_epoch = 0
        self.stop_reason: str | None = None

    def on_train_begin(self, logs: dict[str, Any] | None = None) -> None:
        if not self._resumed:
            self._reset()
        self._resumed = False

    def _stop(self, epoch: int, reason: str) -> None:
        self.stopped_epoch = epoch
        self.stop_reason = reason
        self.model.stop_training = True

    def _check_blow_up(self, epoch: int, current: float) -> bool:
        if self.check_finite and not math.isfinite(current):
            self._stop(epoch, "non_finite")
        elif self.divergence_threshold is not None and self.is_at_most(
                current, self.divergence_threshold):
            self._stop(epoch, "divergence")
        else:
            return False
        return True

    def on_epoch_end(self, epoch: int, logs: dict[str, Any] | None = None) -> None:
        if epoch < self.start_from_epoch:
            value = (logs or {}).get(self.monitor)
            if value is not None:
                self._check_blow_up(epoch, float(value))
            return
        current = self.get_monitor_value(logs)
        if current is None or self._check_blow_up(epoch, current):
            return
        self.wait += 1
        if self.is_improvement(current, self.best):
            self.best = current
            self.best_epoch = epoch
            if self.restore_best_weights:
                self.best_weights = self.model.get_weights()
            if self.baseline is None or self.is_improvement(current, self.baseline):
                self.wait = 0
            if self.stopping_threshold is not None and self.is_at_least(
                    current, self.stopping_threshold):
                self._stop(epoch, "threshold")
            return
        if self.stopping_threshold is not None and self.is_at_least(
                current, self.stopping_threshold):
            self._stop(epoch, "threshold")
        elif self.wait >= self.patience and epoch > 0:
            self._stop(epoch, "patience")

    def on_train_end(self, logs: dict[str, Any] | None = None) -> None:
        if self.stop_reason is not None and self.verbose > 0:
            print(f"Epoch {self.stopped_epoch + 1}: early stopping "
                  f"({self.stop_reason}; {self.monitor}: best {self.best} "
                  f"at epoch {self.best_epoch + 1}).")
        if self.restore_best_weights and self.best_weights is not None:
            if self.verbose > 0:
                print(f"Restoring model weights from the end of the best epoch: "
                      f"{self.best_epoch + 1}.")
            self.model.set_weights(self.best_weights)

    def state_dict(self, include_weights: bool = False) -> dict[str, Any]:
        """Return the resumable state as plain Python.

        Args:
            include_weights: Add the best weights (a list of NumPy arrays, not JSON)
                under `"best_weights"`. Defaults to `False`.

        Returns:
            `{"wait", "best", "best_epoch", "stopped_epoch", "stop_reason"}`, plus
            `"best_weights"` when asked for.
        """
        state: dict[str, Any] = {
            "wait": self.wait,
            "best": None if self.best is None else float(self.best),
            "best_epoch": self.best_epoch,
            "stopped_epoch": self.stopped_epoch,
            "stop_reason": self.stop_reason,
        }
        if include_weights:
            state["best_weights"] = (None if self.best_weights is None
                                     else [np.array(w) for w in self.best_weights])
        return state

    def load_state_dict(self, state: dict[str, Any]) -> None:
        """Restore a state from `state_dict()`; the next `on_train_begin` keeps it.

        Raises:
            ValueError: If `restore_best_weights=True` and the state records a best
                value but carries no `"best_weights"`.
        """
        weights = state.get("best_weights")
        if self.restore_best_weights and state["best"] is not None and weights is None:
            raise ValueError(
                "This EarlyStopping has restore_best_weights=True, but the state has no "
                "'best_weights'. Save it with `state_dict(include_weights=True)` (the "
                "weights are NumPy arrays: store them separately from the JSON part) "
                "and put them back under state['best_weights'] before loading."
            )
        self.wait = int(state["wait"])
        self.best = None if state["best"] is None else float(state["best"])
        self.best_epoch = int(state["best_epoch"])
        self.stopped_epoch = int(state["stopped_epoch"])
        self.stop_reason = state["stop_reason"]
        self.best_weights = None if weights is None else [np.asarray(w) for w in weights]
        self._resumed = True

    def get_config(self) -> dict[str, Any]:
        """Return the constructor arguments."""
        return {
            "monitor": self.monitor,
            "mode": self.mode,
            "min_delta": self.min_delta,
            "min_delta_mode": self.min_delta_mode,
            "patience": self.patience,
            "start_from_epoch": self.start_from_epoch,
            "baseline": self.baseline,
            "stopping_threshold": self.stopping_threshold,
            "divergence_threshold": self.divergence_threshold,
            "check_finite": self.check_finite,
            "restore_best_weights": self.restore_best_weights,
            "verbose": self.verbose,
        }

    @classmethod
    def from_config(cls, config: dict[str, Any]) -> EarlyStopping:
        """Build an `EarlyStopping` from `get_config()` output."""
        return cls(**config)
