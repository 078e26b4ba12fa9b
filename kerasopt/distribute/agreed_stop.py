"""`AgreedStop`: SIGINT or SIGTERM stops every worker of a multi-worker run at the same step.

Under `MultiWorkerMirroredStrategy` every training step is a collective operation: a worker
that stops between two steps while another has started the next one leaves that one
waiting forever inside an all-reduce. So within `fit`, a signal only marks this worker's
wish to stop; after every batch (every execution, with `steps_per_execution`), the
workers sum their wishes in one small all-reduce and, when any worker wants to stop,
all of them raise the caller's interruption (the runner's
:class:`~kerasopt.recipe.errors.RunInterrupted`) at that same step boundary. The stage's last backup (taken at an epoch end) is what `--resume` continues
from.

A worker that received a signal and is still alive `grace_seconds` later (stuck in a
collective whose peer died, for instance) ends itself: a worker never trains unattended.
"""

from __future__ import annotations

import contextlib
import os
import signal
import sys
import threading
from collections.abc import Callable
from typing import Any

import keras

from kerasopt._signals import stop_signals_call

_ORDER = (signal.SIGINT, signal.SIGTERM)


class AgreedStop(keras.callbacks.Callback):
    """Stop all workers at the same step boundary when any of them gets SIGINT or SIGTERM.

    Every worker must have this callback (the agreement is a collective operation).

    Args:
        strategy: The run's `tf.distribute.Strategy`.
        interruption: Makes the exception raised on every worker from the signal's number.
            Defaults to `KeyboardInterrupt` (the number is dropped).
        grace_seconds: How long after a signal this process may live before it ends itself
            with `os._exit(128 + signal)`, > 0. Defaults to `60.0`.
    """

    def __init__(self, strategy: Any, interruption: Callable[[int], BaseException] | None = None,
                 grace_seconds: float = 60.0) -> None:
        super().__init__()
        if not grace_seconds > 0:
            raise ValueError(f"`grace_seconds` must be > 0. Received: grace_seconds={grace_seconds!r}")
        self.strategy = strategy
        self.interruption = interruption or (lambda signum: KeyboardInterrupt())
        self.grace_seconds = float(grace_seconds)
        self.received: list[int] = []
        self._handlers: contextlib.ExitStack | None = None
        self._agree: Any = None

    def on_train_begin(self, logs: dict[str, Any] | None = None) -> None:
        self._agree = self._agreement()
        self._handlers = contextlib.ExitStack()
        self._handlers.enter_context(stop_signals_call(self._record))

    def on_train_batch_end(self, batch: int, logs: dict[str, Any] | None = None) -> None:
        self._stop_if_agreed()

    def on_train_end(self, logs: dict[str, Any] | None = None) -> None:
        self._stop_if_agreed()  # a signal after the last step: every worker stops here too
        self._restore_handlers()

    def _record(self, signum: int, frame: object) -> None:
        if not self.received:
            print(f"kerasopt: {signal.Signals(signum).name}: stopping every worker at the next step",
                  file=sys.stderr)
            watchdog = threading.Timer(self.grace_seconds, os._exit, args=(128 + signum,))
            watchdog.daemon = True
            watchdog.start()
        self.received.append(signum)

    def _stop_if_agreed(self) -> None:
        import tensorflow as tf

        wishes = [float(sig in self.received) for sig in _ORDER]
        agreed = self._agree(tf.constant(wishes, tf.float32)).numpy()
        if agreed.any():
            self._restore_handlers()
            raise self.interruption(signal.SIGTERM if agreed[1] else signal.SIGINT)

    def _restore_handlers(self) -> None:
        if self._handlers is not None:
            self._handlers.close()
            self._handlers = None

    def _agreement(self) -> Any:
        """A function summing each worker's `[SIGINT wanted, SIGTERM wanted]` over the replicas."""
        import tensorflow as tf

        strategy = self.strategy

        @tf.function(input_signature=[tf.TensorSpec([len(_ORDER)], tf.float32)])
        def agree(wishes: Any) -> Any:
            per_replica = strategy.run(tf.identity, args=(wishes,))
            return strategy.reduce("SUM", per_replica, axis=None)

        return agree
