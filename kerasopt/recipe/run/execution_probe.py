"""Time `jit_compile` settings on the real model and data before a stage's `fit`, and leave no trace."""

from __future__ import annotations

import hashlib
import json
import math
import statistics
import time
from collections.abc import Callable
from typing import Any

import keras

from kerasopt.recipe.run.execution_plan import ExecutionPlan, WarmUp

TIMED_STEPS = 24
"""A warm-up times at least this many steps after its first execution (several executions
when there are fewer steps per execution)."""


def signature(model: keras.Model, dataset: Any) -> str:
    """What makes measurements on `model` valid for another model in this process.

    The layers' types and weight shapes, the optimizer's type, the
    batches' shapes and types, and the strategy's devices: the trials of a sweep that
    change only rates, seeds or regularization share one signature; a change of width,
    depth or batch size does not.
    """
    from kerasopt._keras_compat import flatten_layers

    layers = [(type(layer).__name__, [tuple(weight.shape) for weight in layer.weights])
              for layer in flatten_layers(model, include_self=False)]
    strategy = model.distribute_strategy
    try:
        devices = list(strategy.extended.worker_devices)
    except RuntimeError:  # the default strategy has none: the process's devices
        import tensorflow as tf

        devices = [device.name for device in tf.config.list_logical_devices()]
    parts = {"layers": layers, "optimizer": type(model.optimizer).__name__,
             "data": str(dataset.element_spec), "strategy": type(strategy).__name__,
             "devices": devices}
    return hashlib.sha256(json.dumps(parts, default=str).encode()).hexdigest()[:16]


class ExecutionProbe:
    """Warm up and time a compiled model's train step with and without XLA, on its own data.

    Each measurement calls the model's train function on an iterator over `dataset`,
    distributed as `fit` distributes it, so the function traced here is the one the stage's
    `fit` runs (kept, not traced again; with class weights `fit` adds sample weights to the
    batches and traces its own). Before :meth:`finish`, the model's weights, optimizer variables, seed generator
    states and the data pipeline's epoch counter are put back exactly as they were, so the
    stage trains as if nothing had been measured.

    Args:
        model: The compiled model (`jit_compile=False`).
        dataset: The training `tf.data.Dataset` (finite, batched).
        data_epoch: The pipeline's epoch variable (restored afterwards), or None. Defaults to `None`.
        clock: Returns seconds. Defaults to `time.perf_counter`.

    Example:
        ```python
        probe = ExecutionProbe(model, train_dataset)
        warm = probe.warm_up(steps_per_execution=8)  # XLA compiled, or warm.error says why not
        probe.finish(ExecutionPlan(8, warm.error is None, "rule", "example"))
        ```
    """

    def __init__(self, model: keras.Model, dataset: Any, *, data_epoch: Any = None, clock: Callable[[], float] = time.perf_counter) -> None:
        if getattr(model, "optimizer", None) is None:
            raise ValueError(f"ExecutionProbe needs a compiled model. Received model {model.name!r} "
                             "without an optimizer.")
        self.model = model
        self.dataset = dataset
        self.data_epoch = data_epoch
        self.clock = clock
        self.seconds = 0.0
        self._functions: dict[tuple[int, bool], Any] = {}
        self._saved: Any = None

    def _save(self) -> None:
        if self._saved is not None:
            return
        from kerasopt.callbacks import _training_state
        from kerasopt.recipe.store.stage_backup import seed_states

        epoch = None if self.data_epoch is None else int(self.data_epoch.numpy())
        self._saved = (_training_state.snapshot(self.model), seed_states(self.model), epoch)

    def _restore(self) -> None:
        if self._saved is None:
            return
        from kerasopt.callbacks import _training_state
        from kerasopt.recipe.store.stage_backup import set_seed_states

        state, seeds, epoch = self._saved
        _training_state.restore(self.model, state)
        set_seed_states(self.model, seeds)
        if epoch is not None:
            self.data_epoch.assign(epoch)
        self.model.reset_metrics()

    def _run(self, steps_per_execution: int, jit: bool, executions: int) -> list[float]:
        """Durations of `executions` executions of the (kept or new) train function."""
        from kerasopt._keras_compat import symbolic_build

        self._save()
        model = self.model
        model.steps_per_execution = steps_per_execution
        model.jit_compile = jit
        model.train_function = self._functions.get((steps_per_execution, jit))
        started = self.clock()
        try:
            dataset = self.dataset.repeat()
            symbolic_build(model, next(iter(self.dataset)))  # a no-op once built, as in `fit`
            model.make_train_function()
            function = model.train_function
            iterator = iter(model.distribute_strategy.experimental_distribute_dataset(dataset))
            ends = [self.clock()]
            for _ in range(executions):
                logs = function(iterator)
                float(keras.ops.convert_to_numpy(next(iter(logs.values()))))  # wait for the device
                ends.append(self.clock())
        finally:
            self.seconds += self.clock() - started
        self._functions[(steps_per_execution, jit)] = function
        return [b - a for a, b in zip(ends, ends[1:], strict=False)]

    def warm_up(self, steps_per_execution: int, jit: bool = True) -> WarmUp:
        """Trace (with `jit`, compile with XLA) the train step and run it: the first
        execution, then at least :data:`TIMED_STEPS` steps timed.

        Returns:
            The first execution's seconds (tracing and compiling included) and the fastest
            later one's seconds per step; or, when XLA cannot compile the model, the error
            (`"Type: message"`, first line), and the model is back to no XLA.
        """
        import tensorflow as tf

        timed = max(1, math.ceil(TIMED_STEPS / steps_per_execution))
        started = self.clock()
        try:
            durations = self._run(steps_per_execution, jit, 1 + timed)
        except tf.errors.OpError as err:
            if not jit:
                raise
            self._restore()
            self.model.jit_compile = False
            self.model.train_function = None
            self._functions.pop((steps_per_execution, True), None)
            first_line = (str(err.message).strip().splitlines() or [""])[0]
            return WarmUp(f"{type(err).__name__}: {first_line[:200]}", self.clock() - started, None)
        first = durations[0] if durations else self.clock() - started
        # The fastest timed execution: a shared host's load only ever adds time.
        later = min(durations[1:]) / steps_per_execution if len(durations) > 1 else None
        return WarmUp(None, first, later)

    def compare(self, steps_per_execution: int, rounds: int, executions: int) -> dict[bool, float]:
        """Seconds per step with (`True`) and without (`False`) XLA: medians of interleaved rounds.

        The first execution of each setting (tracing, compiling) is not counted.
        """
        samples: dict[bool, list[float]] = {True: [], False: []}
        for jit in (False, True):  # trace what is not traced yet, untimed
            if (steps_per_execution, jit) not in self._functions:
                self._run(steps_per_execution, jit, 1)
        for _ in range(rounds):
            for jit in (False, True):
                samples[jit] += [d / steps_per_execution for d in self._run(steps_per_execution, jit, executions)]
        return {jit: statistics.median(values) for jit, values in samples.items()}

    def finish(self, plan: ExecutionPlan) -> None:
        """Put the model back as it was, set to the plan (its train function kept when traced).

        The test step (validation, evaluation) is not compiled with XLA even when the plan
        compiles the train step: a second XLA compile would cost more than it saves.
        """
        self._restore()
        model = self.model
        model.steps_per_execution = plan.steps_per_execution
        model.jit_compile = plan.jit_compile
        model.train_function = self._functions.get((plan.steps_per_execution, plan.jit_compile))
        model.test_function = model.predict_function = None
        if plan.jit_compile:  # validation (a few batches an epoch) does not win back an XLA compile
            model.jit_compile = False
            model.make_test_function()
            model.make_predict_function()
            model.jit_compile = True
        self._functions.clear()
        self._saved = None
