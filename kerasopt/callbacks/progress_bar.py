"""`ProgressBar`: training progress with ETA, for terminals and notebooks alike."""

from __future__ import annotations

import math
import numbers
import sys
import time
from typing import Any

import keras

from kerasopt.callbacks._arg_checks import check_choice, check_float, check_int
from kerasopt.registry import register


def format_duration(seconds: float) -> str:
    """`5s`, `2:03` or `1:02:03`."""
    seconds = int(round(seconds))
    if seconds < 60:
        return f"{seconds}s"
    minutes, secs = divmod(seconds, 60)
    if minutes < 60:
        return f"{minutes}:{secs:02d}"
    hours, minutes = divmod(minutes, 60)
    return f"{hours}:{minutes:02d}:{secs:02d}"


def format_metrics(logs: dict[str, Any] | None) -> str:
    """` - loss: 0.1234 - accuracy: 0.5000` (scalars only; tiny values in `e` notation)."""
    parts = []
    for key, value in (logs or {}).items():
        if not isinstance(value, numbers.Real) or isinstance(value, bool):
            continue
        value = float(value)
        text = f"{value:.4f}" if value == 0 or abs(value) >= 1e-3 or math.isnan(value) else f"{value:.4e}"
        parts.append(f" - {key}: {text}")
    return "".join(parts)


@register("callback")
class ProgressBar(keras.callbacks.Callback):
    """Show `fit` progress: epoch, step/total, a bar, ETA and the metrics.

    In a terminal (stdout is a TTY) the current line is redrawn with a carriage return at
    most every `update_interval` seconds, and each epoch ends with a full line (time per
    epoch and per step, training and validation metrics). Where stdout is not a TTY
    (notebooks, CI logs, files), carriage returns would pile up, so only the end-of-epoch
    line is printed. Use it in place of Keras's own progress bar: pass `verbose=0` to
    `fit` (the recipe runner does), otherwise both print.

    Metrics are the `logs` Keras hands to the callbacks; reading them is the purpose of a
    progress bar. Between redraws a batch costs one `time.monotonic()` call. When the
    number of steps per epoch is unknown (a dataset without a length), the first epoch
    shows `step/?` and the elapsed time until it ends; later epochs use its step count. Only
    training is shown: `evaluate` and `predict` calls draw nothing.

    Args:
        width: Characters in the bar, an integer >= 1. Defaults to `30`.
        update_interval: Minimum seconds between two redraws in a terminal, >= 0.
            Defaults to `0.1`.
        interactive: `True` forces carriage-return updates, `False` forces one line per
            epoch, `None` decides from `sys.stdout.isatty()` at the start of training.
            Defaults to `None`.

    Raises:
        ValueError: If an argument is out of range.

    Example:
        ```python
        model.fit(x, y, epochs=5, verbose=0, callbacks=[ProgressBar()])
        # Epoch 5/5 32/32 [==============================] 1s 12ms/step - loss: 0.0312
        ```
    """

    per_step_hooks = False  # draws per execution as well

    def __init__(self, width: int = 30, update_interval: float = 0.1,
                 interactive: bool | None = None) -> None:
        super().__init__()
        check_int("width", width, 1)
        check_float("update_interval", update_interval, low=0.0, low_open=False)
        check_choice("interactive", interactive, (True, False, None))
        self.width = width
        self.update_interval = update_interval
        self.interactive = interactive
        self._clock = time.monotonic
        self._stream: Any = None
        self._dynamic = False
        self._steps: int | None = None
        self._epoch = 0
        self._seen = 0
        self._epoch_start = 0.0
        self._last_draw = -math.inf
        self._drawn = 0  # characters of the line currently on screen

    def on_train_begin(self, logs: dict[str, Any] | None = None) -> None:
        self._stream = sys.stdout
        if self.interactive is None:
            isatty = getattr(self._stream, "isatty", None)
            self._dynamic = bool(isatty and isatty())
        else:
            self._dynamic = self.interactive
        self._steps = self.params.get("steps")

    def on_epoch_begin(self, epoch: int, logs: dict[str, Any] | None = None) -> None:
        self._epoch = epoch
        self._seen = 0
        self._epoch_start = self._clock()
        self._last_draw = -math.inf

    def on_train_batch_end(self, batch: int, logs: dict[str, Any] | None = None) -> None:
        self._seen = batch + 1
        if not self._dynamic:
            return
        now = self._clock()
        if now - self._last_draw >= self.update_interval:
            self._last_draw = now
            self._draw(self.line(logs, now, final=False), end="")

    def on_epoch_end(self, epoch: int, logs: dict[str, Any] | None = None) -> None:
        if self._steps is None:
            self._steps = self._seen
        self._draw(self.line(logs, self._clock(), final=True), end="\n")

    def line(self, logs: dict[str, Any] | None, now: float, final: bool) -> str:
        """The text of the progress line at time `now`, without carriage return or newline."""
        epochs = self.params.get("epochs")
        head = f"Epoch {self._epoch + 1}/{epochs if epochs else '?'} "
        total = self._steps
        elapsed = now - self._epoch_start
        if total:
            done = min(self._seen, total)
            filled = int(self.width * done / total)
            arrow = ">" if filled < self.width and not final else ""
            bar = "=" * filled + arrow + "." * (self.width - filled - len(arrow))
            head += f"{self._seen}/{total} [{bar}] "
        else:
            head += f"{self._seen}/? "
        if final:
            per_step = elapsed / max(self._seen, 1)
            timing = f"{format_duration(elapsed)} {per_step * 1000:.0f}ms/step"
        elif total and self._seen:
            timing = f"ETA: {format_duration(elapsed / self._seen * max(total - self._seen, 0))}"
        else:
            timing = f"{format_duration(elapsed)}"
        return head + timing + format_metrics(logs)

    def _draw(self, text: str, end: str) -> None:
        if self._dynamic:
            padding = " " * max(self._drawn - len(text), 0)
            self._stream.write("\r" + text + padding + end)
            self._drawn = 0 if end else len(text)
        else:
            self._stream.write(text + end)
        self._stream.flush()

    def get_config(self) -> dict[str, Any]:
        """Return the constructor arguments."""
        return {"width": self.width, "update_interval": self.update_interval,
                "interactive": self.interactive}

    @classmethod
    def from_config(cls, config: dict[str, Any]) -> ProgressBar:
        """Rebuild the callback from `get_config()`."""
        return cls(**config)
