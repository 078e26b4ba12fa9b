"""`DivergenceGuard`: a run whose loss or weights turn non-finite fails, with nothing saved from them.

The runner puts one guard in every stage's `fit`, ahead of every callback that saves or
keeps weights (backups, the best-epoch keeper, a recipe's `ModelCheckpoint`, a sweep's
pruner). At the first non-finite training loss it stops `fit`; at that epoch's end it
raises :class:`Diverged` before those callbacks run, so the backups on disk keep the last
finite weights and nothing is exported. A recipe with a `DivergenceRecovery` callback asks
for the blow-ups to be rolled back instead: the guard then sits after it and fails the run
only when the recovery gave up or the weights are still non-finite.
"""

from __future__ import annotations

import math
import threading
from typing import Any

import keras

from kerasopt.recipe.errors import RunFailed


class Diverged(RunFailed):
    """Training produced a non-finite loss or non-finite weights (exit 1); the message says
    where, what was kept and what to try."""


def non_finite_variables(model: Any) -> list[str]:
    """The paths of the model's floating-point variables holding a NaN or an infinity.

    Example:
        >>> import numpy as np
        >>> model = keras.Sequential([keras.Input((2,)), keras.layers.Dense(1, name="d")], name="m")
        >>> non_finite_variables(model)
        []
        >>> _ = model.layers[0].bias.assign(np.array([np.nan], "float32"))
        >>> non_finite_variables(model)
        ['m/d/bias']
    """
    return [v.path for v in model.weights if keras.backend.is_float_dtype(v.dtype)
            and not bool(keras.ops.all(keras.ops.isfinite(v.value)))]


def require_finite(model: Any) -> None:
    """Raise :class:`Diverged` when the model holds a non-finite weight (before evaluating or
    exporting it)."""
    bad = non_finite_variables(model)
    if bad:
        raise Diverged(f"the trained model holds non-finite weights ({_listed(bad)}); nothing was "
                       "evaluated or exported. Train it again with a lower learning rate or gradient "
                       "clipping.")


class DivergenceGuard(keras.callbacks.Callback):
    """Stop at the first non-finite training loss and fail the stage at that epoch's end.

    The loss Keras logs after each execution is the epoch's running mean, so it turns
    non-finite in the execution whose steps first gave a non-finite loss and stays so until
    the epoch ends. With `steps_per_execution` > 1 Keras reports once per execution, so the
    step is given as the range of that execution. At each epoch end the weights are checked
    too (an update can overflow after a finite loss, in the epoch's last step).

    The batch check is asynchronous (`async_safe`): it adds no host synchronization to the
    training loop, and it does not ask for one step per execution.

    Args:
        stage: The stage's name, for the message.
        key: The recipe path of the stage's `training:` section (`training` or
            `stages[1].training`), for the message.
        recoveries: The stage's `DivergenceRecovery` callbacks; when there is one, blow-ups
            are theirs to handle. Defaults to `()`.
        backup: The stage's `StageBackup`, to say which backup holds the last finite
            weights. Defaults to `None`.
    """

    async_safe = True  # the batch hook only reads the logs; Keras may run it in a thread
    per_step_hooks = False  # one check per execution is enough (see the class docstring)

    def __init__(self, stage: str, key: str = "training", recoveries: Any = (), backup: Any = None) -> None:
        super().__init__()
        self.stage = stage
        self.key = key
        self.recoveries = list(recoveries)
        self.backup = backup
        self._lock = threading.Lock()
        self._first: tuple[int, int, float] | None = None  # (epoch, last step, loss)
        self._epoch = 0

    def on_train_begin(self, logs: dict[str, Any] | None = None) -> None:
        self._first = None

    def on_epoch_begin(self, epoch: int, logs: dict[str, Any] | None = None) -> None:
        self._epoch = epoch

    def on_train_batch_end(self, batch: int, logs: dict[str, Any] | None = None) -> None:
        if self.recoveries:  # blow-ups within an epoch are the recovery's to handle
            return
        loss = _number((logs or {}).get("loss"))
        if loss is None or math.isfinite(loss):
            return
        with self._lock:  # asynchronous hooks may finish out of order: keep the earliest
            if self._first is None or (self._epoch, batch) < self._first[:2]:
                self._first = (self._epoch, batch, loss)
        self.model.stop_training = True

    def on_epoch_end(self, epoch: int, logs: dict[str, Any] | None = None) -> None:
        steps = int((self.params or {}).get("steps") or 0)
        if self.recoveries:
            gave_up = next((r for r in self.recoveries if r.stopped), None)
            if gave_up is not None:
                self._fail(f"the loss kept blowing up: DivergenceRecovery rolled back {gave_up.retries} "
                           f"time(s) (max_retries), then it blew up again in epoch {epoch + 1}", epoch)
        elif self._first is not None:
            first_epoch, last, loss = self._first
            self._fail(f"the training loss became {loss} at {self._steps(first_epoch, last, steps)}",
                       first_epoch)
        else:
            loss = _number((logs or {}).get("loss"))
            if loss is not None and not math.isfinite(loss):
                where = f"steps 1-{steps} of epoch {epoch + 1}" if steps else f"epoch {epoch + 1}"
                self._fail(f"the training loss became {loss} within {where}", epoch)
        bad = non_finite_variables(self.model)
        if bad:
            last = f" (step {steps})" if steps else ""
            self._fail(f"the weights became non-finite in the last update of epoch {epoch + 1}{last} "
                       f"while the loss was still finite ({_listed(bad)})", epoch)

    def _steps(self, epoch: int, last: int, steps: int) -> str:
        """Epoch and step (1-based) of the first non-finite loss: exact, or the execution's range."""
        per_execution = int(getattr(self.model, "steps_per_execution", 1) or 1)
        last = min(last, steps - 1) if steps else last
        first = max(0, last - per_execution + 1)
        where = f"epoch {epoch + 1}"
        if first == last:
            return f"step {last + 1} of {where}"
        return (f"one of steps {first + 1}-{last + 1} of {where} (Keras reports the loss once per "
                f"{per_execution} steps here: set {self.key}.steps_per_execution: 1 to find the exact step)")

    def _fail(self, what: str, epoch: int) -> None:
        optimizer = getattr(self.model, "optimizer", None)
        rate = ""
        if optimizer is not None:
            try:
                rate = f", now {float(keras.ops.convert_to_numpy(optimizer.learning_rate)):.3g}"
            except (TypeError, ValueError):
                rate = ""
        raise Diverged(
            f"training diverged in stage {self.stage!r}: {what}. {self._kept(epoch)} Nothing was "
            f"exported. Try a lower learning rate ({self.key}.optimizer.learning_rate{rate}), "
            f"gradient clipping ({self.key}.optimizer.clipnorm: 1.0) or divergence recovery "
            f"({self.key}.callbacks: [{{type: divergence_recovery}}], which rolls back and "
            "lowers the rate when the loss blows up).")

    def _kept(self, epoch: int) -> str:
        """Where the last finite weights of the stage are, if anywhere on disk."""
        backup = self.backup
        if backup is None:
            return "No backup of this stage was kept."
        try:
            saved = backup.run_dir.read_json(f"{backup.folder}/backup.json").get("epoch")
        except (OSError, ValueError, AttributeError):
            saved = None
        if not isinstance(saved, int):
            return f"The stage had no backup yet (it diverged in epoch {epoch + 1})."
        return (f"The last finite weights, after epoch {saved} of the stage, are kept in "
                f"{backup.directory}.")


def _number(value: Any) -> float | None:
    try:
        return float(value)
    except (TypeError, ValueError):
        return None


def _listed(paths: list[str]) -> str:
    shown = ", ".join(paths[:3])
    return shown + (f" and {len(paths) - 3} more" if len(paths) > 3 else "")
