"""`MonitorCallback`: monitor, mode and min_delta handling shared by kerasopt callbacks."""

from __future__ import annotations

import math
import numbers
from typing import Any

import keras

from kerasopt._keras_compat import metric_direction

MODES = ("auto", "min", "max")
MIN_DELTA_MODES = ("absolute", "relative")

# Substrings of metric names that are maximized. Keras 3 reads `Metric._direction`
# of the compiled metrics (done first, in `_resolve_direction`); this table covers
# scripted logs and metrics without a direction, as Keras 2 did with "acc".
_MAXIMIZED = (
    "acc", "auc", "precision", "recall", "f1", "fbeta", "iou", "r2", "correlation",
    "pearson", "concordance", "similarity", "sensitivity", "specificity",
)


def _is_real(value: Any) -> bool:
    return isinstance(value, numbers.Real) and not isinstance(value, bool)


def check_optional_finite(name: str, value: Any) -> None:
    """Raise unless `value` is `None` or a finite real number (a constructor check)."""
    if value is not None and not (_is_real(value) and math.isfinite(value)):
        raise ValueError(f"`{name}` must be None or a finite number. Received: {name}={value!r}")


def check_int(name: str, value: Any, minimum: int) -> None:
    """Raise unless `value` is an integer >= `minimum` (a constructor check)."""
    if not isinstance(value, numbers.Integral) or isinstance(value, bool) or value < minimum:
        raise ValueError(f"`{name}` must be an integer >= {minimum}. Received: {name}={value!r}")


def check_choice(name: str, value: Any, allowed: tuple[Any, ...]) -> None:
    """Raise unless `value` is one of `allowed` (a constructor check)."""
    if value not in allowed:
        raise ValueError(
            f"`{name}` must be one of {', '.join(repr(a) for a in allowed)}. "
            f"Received: {name}={value!r}"
        )


class MonitorCallback(keras.callbacks.Callback):
    """Base class of callbacks that compare a logged quantity against a best value.

    It holds, once for every kerasopt callback, what `keras.callbacks.MonitorCallback`
    does, but strictly: the direction of the monitored quantity (`mode`), the
    `min_delta` an improvement must beat (absolute, or relative to the best value),
    and the lookup of the quantity in `logs`. Unlike Keras, an unknown `mode` raises
    instead of falling back to "auto", a negative `min_delta` raises instead of being
    silently made positive, and a key missing from `logs` raises (naming the key and
    the keys that are there) instead of warning.

    In "auto" mode the direction comes from the compiled metric of that name when it
    declares one (`Metric._direction`, as Keras 3 does), else from its name: names
    containing `acc`, `auc`, `precision`, `recall`, `f1`, `iou`, `r2`, ... are
    maximized, everything else (losses, errors) is minimized. The `val_` prefix is
    ignored.

    A `val_` key missing from an epoch's logs that hold no validation keys at all is
    skipped (the value is `None`) once validation has been seen in an earlier epoch:
    that is an epoch without validation under `fit(validation_freq=k)`.

    Args:
        monitor: Key of `logs` to monitor. Defaults to `"val_loss"`.
        mode: One of `"auto"`, `"min"`, `"max"`. Defaults to `"auto"`.
        min_delta: Smallest change that counts as an improvement; must be >= 0.
            Defaults to `0.0`.
        min_delta_mode: `"absolute"`: an improvement beats `best - min_delta` (min
            mode) or `best + min_delta` (max mode); `"relative"`: it beats
            `best -/+ min_delta * |best|`. Defaults to `"absolute"`.

    Raises:
        ValueError: If an argument is out of range.

    Example:
        ```python
        class StopAtTarget(MonitorCallback):
            def on_epoch_end(self, epoch, logs=None):
                value = self.get_monitor_value(logs)
                if value is not None and self.is_at_least(value, 0.95):
                    self.model.stop_training = True
        ```
    """

    def __init__(
        self,
        monitor: str = "val_loss",
        mode: str = "auto",
        min_delta: float = 0.0,
        min_delta_mode: str = "absolute",
    ) -> None:
        super().__init__()
        if not isinstance(monitor, str) or not monitor:
            raise ValueError(f"`monitor` must be a non-empty string. Received: monitor={monitor!r}")
        check_choice("mode", mode, MODES)
        if not (_is_real(min_delta) and math.isfinite(min_delta) and min_delta >= 0):
            raise ValueError(
                f"`min_delta` must be a finite number >= 0. Received: min_delta={min_delta!r}"
            )
        check_choice("min_delta_mode", min_delta_mode, MIN_DELTA_MODES)
        self.monitor = monitor
        self.mode = mode
        self.min_delta = min_delta
        self.min_delta_mode = min_delta_mode
        self._direction: str | None = None if mode == "auto" else mode
        self._validation_seen = False

    @property
    def direction(self) -> str:
        """`"min"` or `"max"`: the resolved direction of the monitored quantity."""
        if self._direction is None:
            self._direction = self._resolve_direction(self.monitor)
            self._on_direction_resolved(self._direction)
        return self._direction

    def _on_direction_resolved(self, direction: str) -> None:
        """Hook for subclasses whose argument checks depend on the direction."""

    def _resolve_direction(self, key: str) -> str:
        name = key.removeprefix("val_")
        for metric in _flat_metrics(self.model):
            direction = metric_direction(metric)
            if metric.name == name and direction is not None:
                return "max" if direction == "up" else "min"
        if name.endswith("loss"):
            return "min"
        return "max" if any(token in name for token in _MAXIMIZED) else "min"

    def _margin(self, reference: float) -> float:
        if self.min_delta_mode == "relative":
            return self.min_delta * abs(reference)
        return self.min_delta

    def is_improvement(self, current: float, reference: float | None) -> bool:
        """Whether `current` beats `reference` by more than `min_delta`.

        Non-finite values never improve; anything finite improves on `None`.
        """
        if not math.isfinite(current):
            return False
        if reference is None:
            return True
        if self.direction == "min":
            return current < reference - self._margin(reference)
        return current > reference + self._margin(reference)

    def is_at_least(self, current: float, threshold: float) -> bool:
        """Whether `current` is at least as good as `threshold` (no `min_delta`)."""
        return current <= threshold if self.direction == "min" else current >= threshold

    def is_at_most(self, current: float, threshold: float) -> bool:
        """Whether `current` is at least as bad as `threshold` (no `min_delta`)."""
        return current >= threshold if self.direction == "min" else current <= threshold

    def get_monitor_value(self, logs: dict[str, Any] | None, key: str | None = None) -> float | None:
        """Return `logs[key]` (default: `self.monitor`) as a float.

        Returns:
            The value, or `None` for a `val_` key on an epoch without validation
            after validation was seen earlier (see the class docstring).

        Raises:
            ValueError: If the key is missing, naming the keys that are present.
        """
        key = self.monitor if key is None else key
        logs = logs or {}
        has_validation = any(k.startswith("val_") for k in logs)
        self._validation_seen = self._validation_seen or has_validation
        value = logs.get(key)
        if value is not None:
            return float(value)
        if key.startswith("val_") and not has_validation and self._validation_seen:
            return None
        hint = ""
        if key.startswith("val_") and not has_validation:
            hint = (" Validation metrics are logged only when `fit()` receives "
                    "`validation_data` or `validation_split`.")
        raise ValueError(
            f"{type(self).__name__} monitors {key!r}, which is not in the logs. "
            f"Available keys: {', '.join(sorted(logs)) or '(none)'}.{hint}"
        )


def _flat_metrics(model: Any) -> list[Any]:
    """The compiled metrics of a Keras model, flattened out of Keras's containers."""
    found = []
    for metric in getattr(model, "metrics", None) or []:
        inner = getattr(metric, "metrics", None)
        found.extend(inner if isinstance(inner, (list, tuple)) else [metric])
    return found
