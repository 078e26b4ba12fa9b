"""BatchSizeFinder: the largest batch that trains within a memory cap, and LR scaling."""

from __future__ import annotations

import gc
import math
from typing import Any

import keras

from kerasopt.callbacks import _arg_checks as checks
from kerasopt.callbacks import _memory_probe, _training_state

SCALE_RULES = ("none", "linear", "sqrt")


class BatchSizeFinder:
    """Find the largest batch size that trains within a memory cap, before `fit()`.

    Not a Keras callback: a running `fit()` cannot change its batch size, so this runs
    before it (a recipe runner builds it from its config and calls `find`). It tries
    batch sizes `start, 2*start, 4*start, ...` up to `max_batch_size` (and the number
    of samples), running `steps_per_trial` real training steps (`train_on_batch`, the
    first one traces) on the first samples of `x`, and keeps the largest size whose
    measured memory stays within `max_memory_bytes`; it stops at the first size over
    the cap or out of memory. Afterwards every weight and optimizer variable is assigned
    back exactly, so the trials leave no trace.

    Memory measured (`measure`):

    - CPU: the peak resident set size (RSS) during the trial minus the RSS when `find`
      started. On Linux the peak is reset before each trial (writing 5 to
      `/proc/self/clear_refs`) and read from `VmHWM`; elsewhere the growth of the
      lifetime peak `ru_maxrss` is used, which only sees memory beyond earlier peaks.
    - GPU (TensorFlow backend with a visible GPU): `tf.config.experimental` peak memory
      of the first GPU, reset before each trial, minus its use when `find` started.

    With `scale_lr="linear"` the optimizer's learning rate is then multiplied by
    `batch_size / base_batch_size` (the linear scaling rule of Goyal et al., "Accurate,
    Large Minibatch SGD: Training ImageNet in 1 Hour", 2017, section 2.1; pair it with
    the warmup of their section 2.2); `"sqrt"` multiplies by the square root of that
    ratio (Krizhevsky, "One weird trick...", 2014; Malladi et al., 2022, for Adam).
    Results: `batch_size`, `learning_rate` (the scaled one, or None) and `trials`
    (one dict per size tried: `batch_size`, `bytes`, `fits`).

    Args:
        max_memory_bytes: Cap, in bytes, on the memory a trial adds to the process's
            (or GPU's) use when `find` started. None caps at 80% of the memory the OS
            reports available (`MemAvailable`) on CPU, and only at out-of-memory errors
            on GPU. Defaults to `None`.
        start: First batch size tried. Defaults to `8`.
        max_batch_size: Largest batch size tried. Defaults to `4096`.
        scale_lr: `"none"`, `"linear"` or `"sqrt"`. Defaults to `"none"`.
        base_batch_size: The batch size the current learning rate was tuned for;
            required unless `scale_lr="none"`. Defaults to `None`.
        steps_per_trial: Training steps run per batch size. Defaults to `2`.

    Raises:
        ValueError: If an argument is out of range.

    Example:
        ```python
        finder = BatchSizeFinder(max_memory_bytes=2 * 2**30, scale_lr="linear",
                                 base_batch_size=32)
        batch_size = finder.find(model, x_train, y_train)
        model.fit(x_train, y_train, batch_size=batch_size)
        ```
    """

    def __init__(
        self,
        max_memory_bytes: int | None = None,
        start: int = 8,
        max_batch_size: int = 4096,
        scale_lr: str = "none",
        base_batch_size: int | None = None,
        steps_per_trial: int = 2,
    ) -> None:
        if max_memory_bytes is not None:
            checks.check_int("max_memory_bytes", max_memory_bytes, 1)
        checks.check_int("start", start, 1)
        checks.check_int("max_batch_size", max_batch_size, start)
        checks.check_choice("scale_lr", scale_lr, SCALE_RULES)
        if base_batch_size is not None:
            checks.check_int("base_batch_size", base_batch_size, 1)
        elif scale_lr != "none":
            raise ValueError(
                f"`base_batch_size` must be an integer >= 1 when scale_lr={scale_lr!r}: the "
                "learning rate is scaled by batch_size / base_batch_size. "
                "Received: base_batch_size=None"
            )
        checks.check_int("steps_per_trial", steps_per_trial, 1)
        self.max_memory_bytes = max_memory_bytes
        self.start = start
        self.max_batch_size = max_batch_size
        self.scale_lr = scale_lr
        self.base_batch_size = base_batch_size
        self.steps_per_trial = steps_per_trial
        self.batch_size: int | None = None
        self.learning_rate: float | None = None
        self.trials: list[dict[str, Any]] = []
        self._baseline: int | None = None

    def get_config(self) -> dict[str, Any]:
        """Return the constructor arguments."""
        return {
            "max_memory_bytes": self.max_memory_bytes,
            "start": self.start,
            "max_batch_size": self.max_batch_size,
            "scale_lr": self.scale_lr,
            "base_batch_size": self.base_batch_size,
            "steps_per_trial": self.steps_per_trial,
        }

    @classmethod
    def from_config(cls, config: dict[str, Any]) -> BatchSizeFinder:
        """Rebuild a `BatchSizeFinder` from `get_config()`."""
        return cls(**config)

    def find(self, model: keras.Model, x: Any, y: Any = None, sample_weight: Any = None) -> int:
        """Try doubling batch sizes and return the largest that fits; maybe scale the LR.

        Args:
            model: A compiled Keras model.
            x: Training inputs (arrays, or a dict/list of arrays with equal first axis).
            y: Training targets. Defaults to `None`.
            sample_weight: Per-sample weights. Defaults to `None`.

        Returns:
            The batch size found (also stored in `batch_size`; `trials` lists every
            size tried with its measured bytes).

        Raises:
            ValueError: If there are fewer samples than `start`, if even `start` exceeds
                the cap, or if scaling meets a learning-rate schedule.
        """
        optimizer = _training_state.require_compiled(model, "BatchSizeFinder")
        if self.scale_lr != "none":
            _training_state.require_settable_learning_rate(optimizer, "BatchSizeFinder")
        samples = int(keras.tree.flatten(x)[0].shape[0])
        if samples < self.start:
            raise ValueError(
                f"BatchSizeFinder needs at least `start`={self.start} samples to try the "
                f"first batch size. Received {samples} samples."
            )
        cap = self.max_memory_bytes if self.max_memory_bytes is not None else _memory_probe.default_cap()
        saved = _training_state.snapshot(model)
        self.trials, found = [], None
        self._baseline = None
        try:
            for size in _doubling(self.start, min(self.max_batch_size, samples)):
                used = self.measure(model, *(_head(a, size) for a in (x, y, sample_weight)))
                fits = used is not None and (cap is None or used <= cap)
                self.trials.append({"batch_size": size, "bytes": used, "fits": fits})
                if not fits:
                    break
                found = size
        finally:
            _training_state.restore(model, saved)
        if found is None:
            used = self.trials[0]["bytes"]
            need = "runs out of memory" if used is None else f"needs {used} bytes"
            raise ValueError(
                f"Even batch_size={self.start} {need}, over max_memory_bytes={cap}. "
                "Lower `start` or raise `max_memory_bytes`."
            )
        self.batch_size = found
        if self.scale_lr != "none":
            ratio = found / self.base_batch_size
            factor = ratio if self.scale_lr == "linear" else math.sqrt(ratio)
            self.learning_rate = float(optimizer.learning_rate.numpy()) * factor
            optimizer.learning_rate = self.learning_rate
        return found

    def measure(self, model: keras.Model, x: Any, y: Any, sample_weight: Any) -> int | None:
        """Bytes `steps_per_trial` training steps on this batch need; None if out of memory.

        Measured against the process (or GPU) use when the first trial of `find` began.
        """
        gpu = _memory_probe.gpu_device()
        if gpu:
            probe: _memory_probe.MaxRssProbe = _memory_probe.GpuProbe(gpu)
        elif _memory_probe.reset_rss_peak():
            probe = _memory_probe.LinuxRssProbe()
        else:
            probe = _memory_probe.MaxRssProbe()
        if self._baseline is None:
            gc.collect()
            self._baseline = probe.current()
        probe.reset_peak()
        try:
            for _ in range(self.steps_per_trial):
                model.train_on_batch(x, y, sample_weight=sample_weight)
        except _memory_probe.out_of_memory_errors():
            return None
        return max(probe.peak() - self._baseline, 0)


def find_batch_size(model: keras.Model, x: Any, y: Any = None, **kwargs: Any) -> int:
    """Shortcut for `BatchSizeFinder(**kwargs).find(model, x, y)`.

    Args:
        model: A compiled Keras model.
        x: Training inputs.
        y: Training targets. Defaults to `None`.
        **kwargs: `BatchSizeFinder` arguments.

    Returns:
        The largest batch size within the cap.
    """
    return BatchSizeFinder(**kwargs).find(model, x, y)


def _doubling(start: int, stop: int) -> list[int]:
    sizes = [start]
    while sizes[-1] * 2 <= stop:
        sizes.append(sizes[-1] * 2)
    return sizes


def _head(data: Any, size: int) -> Any:
    return None if data is None else keras.tree.map_structure(lambda a: a[:size], data)
