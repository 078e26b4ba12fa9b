"""`TimeStopping`: stop training once a wall-clock budget is used up."""

from __future__ import annotations

import time
from typing import Any

import keras

from kerasopt.callbacks._arg_checks import check_choice, check_float
from kerasopt.registry import register

CHECKS = ("batch", "epoch")


@register("callback")
class TimeStopping(keras.callbacks.Callback):
    """Stop training when the wall-clock budget `seconds` is used up.

    The clock starts at `on_train_begin`. With `check="epoch"` (TF Addons' `TimeStopping`
    behaviour) the budget is checked at the end of each epoch, so the epoch that crosses it
    still finishes (with its validation and checkpoints). With `check="batch"` it is also
    checked after every training batch (or every `steps_per_execution` batches), and Keras
    stops mid-epoch; the check is one `time.monotonic()` call, with no device sync, and the
    callback is marked `async_safe` so it never forces Keras to dispatch batch hooks
    synchronously (on backends where Keras runs them in a thread, the stop can land a
    batch or two late). Keras
    always runs at least one batch per `fit`, even when the budget is already used up.

    Time spent in earlier runs carries over a resume: `state_dict()` records the seconds
    used, and after `load_state_dict()` the callback only grants what is left.

    Args:
        seconds: The budget in seconds, > 0. Defaults to `86400` (one day).
        check: `"epoch"` or `"batch"`: when the budget is checked. Defaults to `"epoch"`.
        verbose: If 1, print a line when training is stopped. Defaults to `0`.

    Raises:
        ValueError: If an argument is out of range.

    Example:
        ```python
        stop = TimeStopping(seconds=3600, check="batch")
        model.fit(x, y, epochs=1000, callbacks=[stop])
        stop.stopped_epoch  # the epoch during which the hour ran out, or None
        ```
    """

    # The batch hook only reads the clock and sets a flag, so Keras may run it on a worker
    # thread (backends that dispatch callbacks asynchronously: JAX, torch; not TensorFlow).
    async_safe = True
    per_step_hooks = False

    def __init__(self, seconds: float = 86400, check: str = "epoch", verbose: int = 0) -> None:
        super().__init__()
        check_float("seconds", seconds, low=0.0)
        check_choice("check", check, CHECKS)
        check_choice("verbose", verbose, (0, 1))
        self.seconds = seconds
        self.check = check
        self.verbose = verbose
        self.stopped_epoch: int | None = None
        self._used_before = 0.0  # seconds used by earlier (resumed) runs
        self._started: float | None = None
        self._epoch = 0
        self._clock = time.monotonic

    def elapsed(self) -> float:
        """Seconds of the budget used so far, including earlier runs restored by a state dict."""
        running = 0.0 if self._started is None else self._clock() - self._started
        return self._used_before + running

    def _check(self) -> None:
        if self.stopped_epoch is None and self.elapsed() >= self.seconds:
            self.model.stop_training = True
            self.stopped_epoch = self._epoch

    def on_train_begin(self, logs: dict[str, Any] | None = None) -> None:
        self._started = self._clock()
        self.stopped_epoch = None

    def on_epoch_begin(self, epoch: int, logs: dict[str, Any] | None = None) -> None:
        self._epoch = epoch

    def on_train_batch_end(self, batch: int, logs: dict[str, Any] | None = None) -> None:
        if self.check == "batch":
            self._check()

    def on_epoch_end(self, epoch: int, logs: dict[str, Any] | None = None) -> None:
        self._check()

    def on_train_end(self, logs: dict[str, Any] | None = None) -> None:
        self._used_before = self.elapsed()
        self._started = None
        if self.verbose and self.stopped_epoch is not None:
            print(f"TimeStopping: the {self.seconds}s budget ran out during epoch "
                  f"{self.stopped_epoch + 1}; training stopped.")

    def state_dict(self) -> dict[str, Any]:
        """Return the resumable state: seconds used so far and the stop epoch (JSON-ready)."""
        return {"elapsed_seconds": self.elapsed(), "stopped_epoch": self.stopped_epoch}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        """Restore a state returned by `state_dict()`; the next `fit` gets the budget left."""
        self._used_before = float(state["elapsed_seconds"])
        self.stopped_epoch = state["stopped_epoch"]
        self._started = None

    def get_config(self) -> dict[str, Any]:
        """Return the constructor arguments."""
        return {"seconds": self.seconds, "check": self.check, "verbose": self.verbose}

    @classmethod
    def from_config(cls, config: dict[str, Any]) -> TimeStopping:
        """Rebuild the callback from `get_config()`."""
        return cls(**config)
