"""LRFinder: the learning-rate range test, as a callback and as `find_learning_rate`."""

from __future__ import annotations

import math
from typing import Any

import keras
import numpy as np

from kerasopt.callbacks import _arg_checks as checks
from kerasopt.callbacks import _training_state
from kerasopt.callbacks._plotting import plot_lr_sweep
from kerasopt.registry import register

# How far below its first value the smoothed loss must fall for the curve to have a
# usable minimum (noise on a flat curve moves it by less).
MIN_RELATIVE_DROP = 0.05


@register("callback")
class LRFinder(keras.callbacks.Callback):
    """Learning-rate range test: sweep the learning rate up, record the loss, undo it all.

    Implements the "LR range test" of Smith, "Cyclical Learning Rates for Training
    Neural Networks" (2017), section 3.3: train for `num_steps` batches while the
    learning rate grows exponentially from `min_lr` to `max_lr`
    (`lr_i = min_lr * (max_lr / min_lr) ** (i / (num_steps - 1))`), and record the
    loss of every batch. Formulation choices:

    - Each batch's own loss is recorded: the callback resets the model's metrics before
      every batch, because Keras 3 logs the running mean of the epoch's loss.
    - The loss is smoothed with an exponential moving average
      `avg_i = smoothing * avg_{i-1} + (1 - smoothing) * loss_i` and bias corrected,
      `smoothed_i = avg_i / (1 - smoothing ** (i + 1))` (the correction of Adam).
    - The sweep stops early once `smoothed_i > divergence_factor * min_j smoothed_j`
      or the loss is not finite (that last point is not recorded).

    When training ends (the callback stops it after the sweep), every model weight and
    every optimizer variable (moments, iterations, learning rate) is assigned back
    exactly as it was at `on_train_begin`. Results: `lrs`, `losses` (smoothed),
    `raw_losses`, and two suggestions:

    - `suggestion_steepest`: the learning rate where the smoothed loss falls fastest
      against log10(lr), searched only between the first 10% of the points (the noisy
      smoothing start-up) and the minimum of the smoothed loss (past it, the loss rises
      towards divergence). The slope at point i is the central difference over
      `i - w .. i + w` with `w = max(1, n // 25)`, so single noisy steps do not decide it.
    - `suggestion_min_div10`: the learning rate at the minimum smoothed loss, / 10.

    `suggestion` is `suggestion_min_div10`, the more conservative and robust of the two
    (the steepest slope of a noisy curve can sit anywhere in a long plateau).

    Both are None, and `no_suggestion_reason` says why, when the curve gives no usable
    minimum: the smoothed loss never fell `MIN_RELATIVE_DROP` (5%) below its first value
    (a flat or rising curve), or its minimum lies in the sweep's first decade, so that
    the minimum / 10 would fall below `min_lr`. A suggestion always lies in
    `[min_lr, max_lr]`.

    Args:
        min_lr: First learning rate of the sweep. Defaults to `1e-7`.
        max_lr: Last learning rate of the sweep. Defaults to `10.0`.
        num_steps: Batches in the sweep. Defaults to `200`.
        smoothing: Exponential smoothing factor of the loss, in [0, 1). Defaults to `0.98`.
        divergence_factor: Stop once the smoothed loss exceeds this multiple of the best
            smoothed loss. Defaults to `4.0`.
        plot_path: Where to write a PNG plot of the sweep with both suggestions marked;
            None writes none. Defaults to `None`.
        verbose: 1 prints the suggestions when the sweep ends. Defaults to `0`.

    Raises:
        ValueError: If an argument is out of range; at `on_train_begin`, if the model
            has no optimizer or its learning rate is a schedule.

    Example:
        ```python
        finder = LRFinder(min_lr=1e-5, max_lr=1.0, num_steps=50)
        model.fit(x, y, batch_size=32, epochs=10, callbacks=[finder])
        finder.suggestion  # a float; the model is exactly as before the fit
        ```
    """

    per_step_hooks = True  # sets the learning rate before every step and reads every step's loss

    def __init__(
        self,
        min_lr: float = 1e-7,
        max_lr: float = 10.0,
        num_steps: int = 200,
        smoothing: float = 0.98,
        divergence_factor: float = 4.0,
        plot_path: str | None = None,
        verbose: int = 0,
    ) -> None:
        super().__init__()
        checks.check_float("min_lr", min_lr, low=0.0)
        checks.check_float("max_lr", max_lr, low=0.0)
        if max_lr <= min_lr:
            raise ValueError(
                f"`max_lr` must be > `min_lr`. Received: min_lr={min_lr!r}, max_lr={max_lr!r}"
            )
        checks.check_int("num_steps", num_steps, 5)
        checks.check_float("smoothing", smoothing, low=0.0, high=1.0, low_open=False)
        checks.check_float("divergence_factor", divergence_factor, low=1.0)
        checks.check_optional_str("plot_path", plot_path)
        checks.check_choice("verbose", verbose, (0, 1))
        self.min_lr = min_lr
        self.max_lr = max_lr
        self.num_steps = num_steps
        self.smoothing = smoothing
        self.divergence_factor = divergence_factor
        self.plot_path = plot_path
        self.verbose = verbose
        self.sweep_lrs = [
            float(v) for v in np.geomspace(min_lr, max_lr, num_steps, dtype=np.float64)
        ]
        self._saved: _training_state.TrainingState | None = None
        self._reset()

    note: str | None = None
    """Set by :func:`find_learning_rate` when the sweep ran in place of a schedule."""

    def _reset(self) -> None:
        self.lrs: list[float] = []
        self.losses: list[float] = []
        self.raw_losses: list[float] = []
        self._avg = 0.0
        self._best = math.inf
        self.done = False

    def get_config(self) -> dict[str, Any]:
        """Return the constructor arguments."""
        return {
            "min_lr": self.min_lr,
            "max_lr": self.max_lr,
            "num_steps": self.num_steps,
            "smoothing": self.smoothing,
            "divergence_factor": self.divergence_factor,
            "plot_path": self.plot_path,
            "verbose": self.verbose,
        }

    @classmethod
    def from_config(cls, config: dict[str, Any]) -> LRFinder:
        """Rebuild an `LRFinder` from `get_config()`."""
        return cls(**config)

    def state_dict(self) -> dict[str, Any]:
        """Return the sweep's progress (JSON-serializable) for resuming."""
        return {
            "lrs": list(self.lrs),
            "losses": list(self.losses),
            "raw_losses": list(self.raw_losses),
            "avg": self._avg,
            "best": self._best if math.isfinite(self._best) else None,
            "done": self.done,
        }

    def load_state_dict(self, state: dict[str, Any]) -> None:
        """Continue a sweep from `state_dict()`."""
        self.lrs = [float(v) for v in state["lrs"]]
        self.losses = [float(v) for v in state["losses"]]
        self.raw_losses = [float(v) for v in state["raw_losses"]]
        self._avg = float(state["avg"])
        self._best = math.inf if state["best"] is None else float(state["best"])
        self.done = bool(state["done"])

    # -- hooks ---------------------------------------------------------------------

    def on_train_begin(self, logs: dict[str, Any] | None = None) -> None:
        optimizer = _training_state.require_compiled(self.model, "LRFinder")
        _training_state.require_settable_learning_rate(optimizer, "LRFinder")
        self._saved = _training_state.snapshot(self.model)

    def on_train_batch_begin(self, batch: int, logs: dict[str, Any] | None = None) -> None:
        if self.done:
            self.model.stop_training = True
            return
        self.model.reset_metrics()
        self.model.optimizer.learning_rate = self.sweep_lrs[len(self.lrs)]

    def on_train_batch_end(self, batch: int, logs: dict[str, Any] | None = None) -> None:
        if self.done:
            return
        if not logs or "loss" not in logs:
            raise ValueError(
                "LRFinder reads the batch loss from the logs of `on_train_batch_end`; "
                f"the logs hold no 'loss'. Received: logs={logs!r}"
            )
        loss = float(logs["loss"])
        step = len(self.lrs)
        if not math.isfinite(loss):
            self._finish()
            return
        self._avg = self.smoothing * self._avg + (1.0 - self.smoothing) * loss
        smoothed = self._avg / (1.0 - self.smoothing ** (step + 1))
        self.lrs.append(self.sweep_lrs[step])
        self.losses.append(smoothed)
        self.raw_losses.append(loss)
        self._best = min(self._best, smoothed)
        if smoothed > self.divergence_factor * self._best or len(self.lrs) == self.num_steps:
            self._finish()

    def _finish(self) -> None:
        self.done = True
        self.model.stop_training = True

    def on_train_end(self, logs: dict[str, Any] | None = None) -> None:
        if self._saved is not None:
            _training_state.restore(self.model, self._saved)
            self._saved = None
        if self.plot_path is not None and self.lrs:
            self.plot(self.plot_path)
        if self.verbose:
            print(
                f"LRFinder: {len(self.lrs)} steps; suggestion_min_div10="
                f"{self.suggestion_min_div10}, suggestion_steepest={self.suggestion_steepest}"
                + (f" ({self.no_suggestion_reason})" if self.no_suggestion_reason else "")
            )

    # -- results ---------------------------------------------------------------------

    @property
    def no_suggestion_reason(self) -> str | None:
        """Why a finished sweep gives no suggestion (a sentence), or None when it gives one.

        None also before a sweep.
        """
        if not self.done and not self.losses:
            return None
        if not self.losses:
            return (f"the LR range test recorded no finite loss (the first loss, at "
                    f"learning_rate={self.min_lr:.3g}, was already NaN or infinite): lower "
                    "`min_lr`, or check the data")
        first, best = self.losses[0], min(self.losses)
        index = int(np.argmin(self.losses))
        span = f"learning rates {self.lrs[0]:.3g} to {self.lrs[-1]:.3g}"
        if not first - best >= MIN_RELATIVE_DROP * abs(first):
            return (f"the loss curve gave no usable minimum: over {span} the smoothed loss never "
                    f"fell {MIN_RELATIVE_DROP:.0%} below its first value ({first:.4g}; lowest "
                    f"{best:.4g}). Sweep higher rates (raise `max_lr`), train longer per rate "
                    "(more `num_steps`), or check that the model can learn")
        if self.lrs[index] / 10.0 < self.min_lr:
            return (f"the loss curve gave no usable minimum: its lowest smoothed loss is at "
                    f"learning_rate={self.lrs[index]:.3g}, in the sweep's first decade, so "
                    f"minimum / 10 would be below min_lr={self.min_lr:.3g}. Lower `min_lr` "
                    "and sweep again")
        return None

    @property
    def suggestion_min_div10(self) -> float | None:
        """Learning rate at the minimum smoothed loss, divided by 10, in `[min_lr, max_lr]`.

        None before a sweep and when the curve has no usable minimum (`no_suggestion_reason`).
        """
        if not self.losses or self.no_suggestion_reason is not None:
            return None
        return self.lrs[int(np.argmin(self.losses))] / 10.0

    @property
    def suggestion_steepest(self) -> float | None:
        """Learning rate at the steepest descent of smoothed loss vs log10(lr), or None.

        None when fewer than 3 points lie between the first 10% and the minimum of the
        smoothed loss, or when the loss never decreases there.
        """
        count = len(self.losses)
        if count < 4 or self.no_suggestion_reason is not None:
            return None
        losses = np.asarray(self.losses, dtype=np.float64)
        log_lrs = np.log10(np.asarray(self.lrs, dtype=np.float64))
        start, end = max(1, count // 10), int(np.argmin(losses)) + 1
        if end - start < 3:
            return None
        width = max(1, count // 25)
        best_slope, best_index = 0.0, None
        for i in range(start, end):
            lo, hi = max(0, i - width), min(count - 1, i + width)
            slope = (losses[hi] - losses[lo]) / (log_lrs[hi] - log_lrs[lo])
            if slope < best_slope:
                best_slope, best_index = slope, i
        return None if best_index is None else self.lrs[best_index]

    @property
    def suggestion(self) -> float | None:
        """The default suggestion: `suggestion_min_div10`."""
        return self.suggestion_min_div10

    def plot(self, path: str) -> None:
        """Write the sweep as a PNG with both suggestions marked (matplotlib Agg)."""
        if not self.lrs:
            raise ValueError("LRFinder.plot() needs a finished sweep; no loss was recorded.")
        plot_lr_sweep(
            path,
            self.lrs,
            self.losses,
            {"min / 10": self.suggestion_min_div10, "steepest": self.suggestion_steepest},
        )


def find_learning_rate(
    model: keras.Model,
    x_or_dataset: Any,
    y: Any = None,
    *,
    batch_size: int | None = None,
    **kwargs: Any,
) -> LRFinder:
    """Run an LR range test through `model.fit` and leave the model as it was.

    Fits for as many epochs as the sweep needs (the finder stops training at its end),
    silently, then returns the finder with `lrs`, `losses` and the suggestions. Weights,
    optimizer variables and the learning rate are restored exactly.

    An optimizer whose learning rate is a schedule (also inside a wrapper such as
    `Lookahead`) cannot have its rate set step by step, so the sweep runs on a copy of the
    optimizer with a constant rate in place of each schedule; the model gets its own
    optimizer back afterwards, untouched. `finder.note` then says so (None otherwise):
    apply the suggestion as the schedule's peak rate.

    A model compiled with `steps_per_execution` > 1 runs the sweep one step per execution
    (the finder acts between steps) and gets its setting back afterwards.

    Args:
        model: A compiled Keras model whose optimizer has a float learning rate.
        x_or_dataset: Inputs (arrays) or a `tf.data.Dataset`/`keras.utils.PyDataset`
            yielding batches; an infinite dataset is read for `num_steps` batches.
        y: Targets when `x_or_dataset` holds inputs only. Defaults to `None`.
        batch_size: Batch size for array inputs; None for datasets. Defaults to `None`.
        **kwargs: `LRFinder` arguments (`min_lr`, `max_lr`, `num_steps`...).

    Returns:
        The `LRFinder` after its sweep.

    Raises:
        ValueError: From `LRFinder`, or if the model is not compiled.

    Example:
        ```python
        finder = find_learning_rate(model, x, y, batch_size=64, max_lr=1.0, num_steps=100)
        model.optimizer.learning_rate = finder.suggestion
        ```
    """
    finder = LRFinder(**kwargs)
    original = _training_state.require_compiled(model, "find_learning_rate")
    fit_kwargs: dict[str, Any] = {"verbose": 0}
    batches = _batches_per_epoch(x_or_dataset, batch_size)
    if batches == -1:  # an infinite dataset: one "epoch" of exactly the sweep
        fit_kwargs.update(epochs=1, steps_per_epoch=finder.num_steps)
    else:  # unknown size (None): every epoch has at least one batch
        fit_kwargs["epochs"] = math.ceil(finder.num_steps / (batches or 1))
    if batch_size is not None:
        fit_kwargs["batch_size"] = batch_size
    if callable(getattr(x_or_dataset, "cardinality", None)) or isinstance(
            x_or_dataset, keras.utils.PyDataset):
        fit_kwargs["shuffle"] = False  # a dataset batches and shuffles itself
    stand_in, schedules = _constant_rate_copy(original)
    # The finder sets the rate before every step and reads every step's loss.
    per_execution = model.steps_per_execution
    if per_execution != 1:
        model.steps_per_execution, model.train_function = 1, None
    if stand_in is not None:
        model.optimizer, model.train_function = stand_in, None
        finder.note = (f"the optimizer's learning rate is a schedule ({', '.join(schedules)}); the "
                       "range test ran on a copy of the optimizer with a constant rate in its place. "
                       "Use the suggestion as the schedule's peak rate.")
    try:
        model.fit(x_or_dataset, y, callbacks=[finder], **fit_kwargs)
    finally:
        if stand_in is not None:
            model.optimizer, model.train_function = original, None
        if per_execution != 1:
            model.steps_per_execution, model.train_function = per_execution, None
    return finder


def _constant_rate_copy(optimizer: Any) -> tuple[Any, list[str]]:
    """A fresh copy of `optimizer` with every learning-rate schedule replaced by a float.

    Returns:
        The copy and the schedules' class names, or `(None, [])` when the rate is already
        a variable the finder can set.
    """
    if isinstance(optimizer.learning_rate, keras.Variable):
        return None, []
    found: list[str] = []

    def replace(node: Any) -> Any:
        if isinstance(node, dict):
            out = {}
            for key, value in node.items():
                if key == "learning_rate" and isinstance(value, dict):
                    found.append(str(value.get("class_name", "schedule")))
                    out[key] = 1e-3  # any float: the finder sets the rate before every batch
                else:
                    out[key] = replace(value)
            return out
        return node

    serialized = replace(keras.saving.serialize_keras_object(optimizer))
    return keras.saving.deserialize_keras_object(serialized), found


def _batches_per_epoch(data: Any, batch_size: int | None) -> int | None:
    """Batches in one pass over `data`: -1 if infinite, None if unknown."""
    cardinality = getattr(data, "cardinality", None)
    if callable(cardinality):  # tf.data.Dataset: -1 infinite, -2 unknown
        count = int(cardinality())
        return count if count == -1 or count > 0 else None
    if batch_size is not None:
        first = keras.tree.flatten(data)[0]
        if hasattr(first, "shape") and first.shape[0]:
            return math.ceil(int(first.shape[0]) / batch_size)
    length = getattr(data, "__len__", None)  # keras.utils.PyDataset
    return int(length()) if callable(length) and length() else None
