"""`BestWeights`: keep the weights of the best epoch, and put them back when `fit` ends."""

from __future__ import annotations

from typing import Any

from kerasopt.callbacks.monitor import MonitorCallback
from kerasopt.registry import register


@register("callback")
class BestWeights(MonitorCallback):
    """Remember the weights of the epoch with the best monitored value; restore them at the end.

    Unlike `EarlyStopping(restore_best_weights=True)`, this never stops training: it only
    makes the model that leaves `fit` the best one seen, by the monitored validation value
    (the last one when no epoch had a finite value). The weights are copied to host memory
    at each improvement. `best_epoch` and `best` tell which epoch was restored.

    Args:
        monitor: Key of `logs` to monitor. Defaults to `"val_loss"`.
        mode: `"auto"`, `"min"` or `"max"`. Defaults to `"auto"`.
        min_delta: Smallest change that counts as an improvement (>= 0). Defaults to `0.0`.
        restore: Whether to restore the best weights when `fit` ends; with `False`, call
            :meth:`restore` yourself: `final_weights` then holds the weights `fit` ended
            with, as this callback's `on_train_end` found them (put it before callbacks
            that restore weights of their own, such as `EarlyStopping(
            restore_best_weights=True)`). Defaults to `True`.

    Example:
        >>> import keras, numpy as np
        >>> model = keras.Sequential([keras.Input((2,)), keras.layers.Dense(1)])
        >>> model.compile("sgd", "mse")
        >>> keeper = BestWeights(monitor="val_loss")
        >>> x = np.ones((8, 2), "float32")
        >>> _ = model.fit(x, x[:, :1], validation_data=(x, x[:, :1]), epochs=2, verbose=0,
        ...               callbacks=[keeper])
        >>> keeper.best_epoch in (0, 1)
        True
    """

    def __init__(self, monitor: str = "val_loss", mode: str = "auto", min_delta: float = 0.0,
                 restore: bool = True) -> None:
        super().__init__(monitor=monitor, mode=mode, min_delta=min_delta)
        if not isinstance(restore, bool):
            raise ValueError(f"`restore` must be true or false. Received: restore={restore!r}")
        self.restore_on_end = restore
        self.best: float | None = None
        self.best_epoch: int | None = None
        self.last_epoch: int | None = None
        self._weights: list[Any] | None = None
        self.final_weights: list[Any] | None = None

    def on_train_begin(self, logs: dict[str, Any] | None = None) -> None:
        self.best = self.best_epoch = self.last_epoch = None
        self._weights = self.final_weights = None

    def on_epoch_end(self, epoch: int, logs: dict[str, Any] | None = None) -> None:
        self.last_epoch = epoch
        value = self.get_monitor_value(logs)
        if value is not None and self.is_improvement(value, self.best):
            self.best, self.best_epoch = value, epoch
            self._weights = self.model.get_weights()

    def on_train_end(self, logs: dict[str, Any] | None = None) -> None:
        if self.restore_on_end:
            self.restore()
        elif self.improves_on_last:
            self.final_weights = self.model.get_weights()

    @property
    def improves_on_last(self) -> bool:
        """Whether restoring changes the model (the best epoch is not the last one)."""
        return self._weights is not None and self.best_epoch != self.last_epoch

    def restore(self) -> bool:
        """Put the best epoch's weights into the model; returns whether anything changed."""
        if not self.improves_on_last:
            return False
        self.model.set_weights(self._weights)
        return True

    def get_state(self) -> dict[str, Any]:
        """What was seen so far: `best`, `best_epoch`, `last_epoch` and the best `weights` (or None).

        With :meth:`set_state` (after `on_train_begin`), a `fit` resumed from a backup
        continues the search as if it had not been interrupted.
        """
        return {"best": self.best, "best_epoch": self.best_epoch, "last_epoch": self.last_epoch,
                "weights": self._weights}

    def set_state(self, state: dict[str, Any]) -> None:
        """Continue from a :meth:`get_state` result."""
        self.best, self.best_epoch = state["best"], state["best_epoch"]
        self.last_epoch, self._weights = state["last_epoch"], state["weights"]

    def get_config(self) -> dict[str, Any]:
        """The constructor arguments."""
        return {"monitor": self.monitor, "mode": self.mode, "min_delta": self.min_delta,
                "restore": self.restore_on_end}

    @classmethod
    def from_config(cls, config: dict[str, Any]) -> BestWeights:
        """Rebuild the callback from :meth:`get_config`."""
        return cls(**config)
