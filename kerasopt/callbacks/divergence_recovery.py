"""`DivergenceRecovery`: roll back and cut the learning rate when the loss blows up."""

from __future__ import annotations

import math
from typing import Any

import keras
import numpy as np

from kerasopt._keras_compat import raw_learning_rate
from kerasopt.callbacks.monitor import MonitorCallback, check_choice, check_int
from kerasopt.registry import register

CHECKS = ("batch", "epoch")


@keras.saving.register_keras_serializable(package="kerasopt", name="DivergenceRecoveryScaledRate")
class _ScaledRate(keras.optimizers.schedules.LearningRateSchedule):
    """A learning-rate schedule (or zero-argument callable) times a multiplier variable.

    Installed by `DivergenceRecovery` in place of an optimizer's schedule, so that
    the rate can be cut without retracing: the multiplier is a variable read inside
    the compiled train step. It serializes with the multiplier's current value, so
    a model saved mid-training loads (safe mode) with the rate it was training at.
    """

    def __init__(self, schedule: Any, multiplier: float = 1.0) -> None:
        self.schedule = schedule
        self.multiplier = keras.Variable(multiplier, trainable=False, dtype="float32",
                                         name="divergence_recovery_lr_multiplier")

    def __call__(self, step: Any) -> Any:
        if isinstance(self.schedule, keras.optimizers.schedules.LearningRateSchedule):
            rate = self.schedule(step)
        else:
            rate = self.schedule()
        return keras.ops.multiply(keras.ops.cast(rate, "float32"), self.multiplier)

    def get_config(self) -> dict[str, Any]:
        return {"schedule": keras.saving.serialize_keras_object(self.schedule),
                "multiplier": float(self.multiplier.numpy())}

    @classmethod
    def from_config(cls, config: dict[str, Any]) -> _ScaledRate:
        schedule = keras.saving.deserialize_keras_object(config["schedule"])
        return cls(schedule, config["multiplier"])


@register("callback")
class DivergenceRecovery(MonitorCallback):
    """Roll back to the last good weights and optimizer state, and cut the rate, on a blow-up.

    A blow-up is a NaN/inf loss, or a loss above `explosion_factor` times the best
    recent loss: the lowest loss seen since the start of this `fit()` or since the
    last roll-back, whichever is later (the "loss explosion" rule of TF Model
    Garden's trainer, with a relative instead of a fixed bound; it applies only
    while that best loss is positive). On a blow-up the callback restores the model weights and every
    optimizer variable (slots, iteration count) from its last trusted snapshot,
    multiplies the learning rate by `factor`, resets the model's metrics (so the
    running mean of the loss does not carry the NaN) and lets training continue.
    After `max_retries` roll-backs, the next blow-up rolls back once more and stops
    training, with a message saying so (`stopped` becomes `True`).

    The learning rate: when it is a variable (a float given to the optimizer) it is
    assigned `rate * factor`. When it is a `LearningRateSchedule` (or a callable),
    `on_train_begin` replaces it with a serializable wrapper that multiplies it by
    a variable this callback owns (`lr_multiplier`, also in `state_dict()`); the
    wrapper stays on the optimizer, so later `fit()` calls and saved models keep
    the cut rate. If the train function was already compiled, it is rebuilt once.

    Snapshots (copies of weights and optimizer variables to host memory) are taken
    at `on_train_begin` and then every `snapshot_every_n_steps` healthy batches
    (`check="batch"`) or every healthy epoch (`check="epoch"`). A snapshot becomes
    the roll-back target only when the next one is due and training stayed healthy
    in between, so weights that were already bad when copied (finite loss, then a
    blow-up one step later) are never restored. Two snapshots are kept in memory.

    `check="batch"` reads the loss after every batch: a host sync per batch, which
    also turns off Keras's asynchronous batch callbacks. `check="epoch"` adds no
    per-batch work at all. Keras logs the running mean of the loss over the epoch,
    which is what is checked.

    Args:
        monitor: The training loss key of `logs`. Defaults to `"loss"`.
        factor: Learning-rate multiplier applied at each roll-back, in (0, 1).
            Defaults to `0.5`.
        max_retries: Roll-backs allowed before training is stopped. Defaults to `3`.
        explosion_factor: A loss above this times the best loss is a blow-up;
            must be > 1. Defaults to `10.0`.
        check: `"batch"` or `"epoch"`: when the loss is checked. Defaults to `"batch"`.
        snapshot_every_n_steps: Batches between snapshots with `check="batch"`.
            Defaults to `100`.
        verbose: 0 prints only the final stop; 1 also prints each roll-back.
            Defaults to `0`.

    Raises:
        ValueError: If an argument is out of range, or `check="batch"` monitors a
            `val_` key (validation is not logged per batch).

    Example:
        ```python
        recovery = DivergenceRecovery(factor=0.5, max_retries=3, check="batch")
        model.fit(x, y, epochs=10, callbacks=[recovery])
        print(recovery.retries, float(model.optimizer.learning_rate))
        ```
    """

    def __init__(
        self,
        monitor: str = "loss",
        factor: float = 0.5,
        max_retries: int = 3,
        explosion_factor: float = 10.0,
        check: str = "batch",
        snapshot_every_n_steps: int = 100,
        verbose: int = 0,
    ) -> None:
        super().__init__(monitor, mode="min")
        if isinstance(factor, bool) or not isinstance(factor, (int, float)) or not 0 < factor < 1:
            raise ValueError(f"`factor` must be a number in (0, 1). Received: factor={factor!r}")
        check_int("max_retries", max_retries, 0)
        if (isinstance(explosion_factor, bool) or not isinstance(explosion_factor, (int, float))
                or not 1 < explosion_factor < math.inf):
            raise ValueError("`explosion_factor` must be a finite number > 1. "
                             f"Received: explosion_factor={explosion_factor!r}")
        check_choice("check", check, CHECKS)
        if check == "batch" and monitor.startswith("val_"):
            raise ValueError(f"`check='batch'` needs a training key; validation keys are not "
                             f"logged per batch. Received: monitor={monitor!r}")
        check_int("snapshot_every_n_steps", snapshot_every_n_steps, 1)
        check_int("verbose", verbose, 0)
        self.factor = factor
        self.max_retries = max_retries
        self.explosion_factor = explosion_factor
        self.check = check
        self.snapshot_every_n_steps = snapshot_every_n_steps
        self.verbose = verbose
        if check == "batch":
            # Only then is a batch hook defined: Keras dispatches batch callbacks
            # asynchronously (no host sync) when no callback overrides the hook.
            self.on_train_batch_end = self._on_train_batch_end
        # Checked per batch, it rolls back and snapshots step by step: one step per execution.
        self.per_step_hooks = check == "batch"
        self.lr_multiplier = 1.0
        self._resumed = False
        self._reset()

    def _reset(self) -> None:
        self.retries = 0
        self.stopped = False
        self.best: float | None = None
        self._healthy_checks = 0
        self._trusted: tuple[list[np.ndarray], list[np.ndarray]] | None = None
        self._candidate: tuple[list[np.ndarray], list[np.ndarray]] | None = None

    def _optimizer(self) -> Any:
        optimizer = self.model.optimizer
        return getattr(optimizer, "inner_optimizer", optimizer)  # LossScaleOptimizer

    def on_train_begin(self, logs: dict[str, Any] | None = None) -> None:
        resumed, self._resumed = self._resumed, False
        if not resumed:
            self._reset()
        optimizer = self._optimizer()
        if not optimizer.built:
            optimizer.build(self.model.trainable_variables)
        rate = raw_learning_rate(optimizer)  # The schedule itself: `learning_rate` evaluates it.
        if isinstance(rate, _ScaledRate):
            # A loaded state sets the cut; otherwise keep the cut already on the optimizer.
            if resumed:
                rate.multiplier.assign(self.lr_multiplier)
            else:
                self.lr_multiplier = float(rate.multiplier.numpy())
        elif not isinstance(rate, keras.Variable):
            optimizer.learning_rate = _ScaledRate(rate, self.lr_multiplier)
            if getattr(self.model, "train_function", None) is not None:
                self.model.make_train_function(force=True)
        self._healthy_checks = 0
        self._trusted = self._snapshot()
        self._candidate = None

    def _snapshot(self) -> tuple[list[np.ndarray], list[np.ndarray]]:
        variables = self._optimizer().variables
        return (self.model.get_weights(),
                [v.numpy() for v in variables])

    def _is_blow_up(self, loss: float) -> bool:
        if not math.isfinite(loss):
            return True
        return self.best is not None and self.best > 0 and loss > self.explosion_factor * self.best

    def _on_check(self, logs: dict[str, Any] | None, period: int) -> None:
        loss = self.get_monitor_value(logs)
        if loss is None:
            return
        if self._is_blow_up(loss):
            self._recover(loss)
            return
        self.best = loss if self.best is None else min(self.best, loss)
        self._healthy_checks += 1
        if self._healthy_checks % period == 0:
            if self._candidate is not None:
                self._trusted = self._candidate
            self._candidate = self._snapshot()

    def _on_train_batch_end(self, batch: int, logs: dict[str, Any] | None = None) -> None:
        self._on_check(logs, self.snapshot_every_n_steps)

    def on_epoch_end(self, epoch: int, logs: dict[str, Any] | None = None) -> None:
        if self.check == "epoch":
            self._on_check(logs, 1)

    def _recover(self, loss: float) -> None:
        if self._trusted is None:
            raise RuntimeError("DivergenceRecovery takes its first snapshot in on_train_begin; "
                               "call it (fit() does) before the batch or epoch hooks.")
        optimizer = self._optimizer()
        rate = raw_learning_rate(optimizer)
        current = float(rate.numpy()) if isinstance(rate, keras.Variable) else None
        weights, slots = self._trusted
        self.model.set_weights(weights)
        for variable, value in zip(optimizer.variables, slots, strict=True):
            variable.assign(value)
        self._candidate = None
        self._healthy_checks = 0
        self.best = None  # the reference restarts from the restored state
        self.model.reset_metrics()
        if self.retries >= self.max_retries:
            self.stopped = True
            self.model.stop_training = True
            print(f"DivergenceRecovery: {self.monitor}={loss} after {self.retries} "
                  "roll-back(s) (max_retries reached); restored the last good weights "
                  "and stopped training.")
            return
        self.retries += 1
        if current is not None:
            optimizer.learning_rate = current * self.factor
        else:
            self.lr_multiplier *= self.factor
            rate.multiplier.assign(self.lr_multiplier)
        if self.verbose > 0:
            print(f"DivergenceRecovery: {self.monitor}={loss}; rolled back (retry "
                  f"{self.retries}/{self.max_retries}) and multiplied the learning rate "
                  f"by {self.factor}.")

    def state_dict(self) -> dict[str, Any]:
        """Return the resumable state as plain JSON-serializable Python.

        The snapshots are not included: a resumed run snapshots its restored
        weights at `on_train_begin`. A float learning rate lives in the optimizer's
        variables (checkpointed with the optimizer); `lr_multiplier` is the cut
        applied to a schedule.
        """
        return {"retries": self.retries, "stopped": self.stopped,
                "best": self.best, "lr_multiplier": self.lr_multiplier}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        """Restore a state from `state_dict()`; the next `on_train_begin` keeps it."""
        self.retries = int(state["retries"])
        self.stopped = bool(state["stopped"])
        self.best = None if state["best"] is None else float(state["best"])
        self.lr_multiplier = float(state["lr_multiplier"])
        self._resumed = True

    def get_config(self) -> dict[str, Any]:
        """Return the constructor arguments."""
        return {"monitor": self.monitor, "factor": self.factor,
                "max_retries": self.max_retries, "explosion_factor": self.explosion_factor,
                "check": self.check, "snapshot_every_n_steps": self.snapshot_every_n_steps,
                "verbose": self.verbose}

    @classmethod
    def from_config(cls, config: dict[str, Any]) -> DivergenceRecovery:
        """Build a `DivergenceRecovery` from `get_config()` output."""
        return cls(**config)
