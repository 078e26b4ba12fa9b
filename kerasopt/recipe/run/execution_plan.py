"""How a stage's `fit` executes: `steps_per_execution` and `jit_compile`, chosen per model and device.

Keras 3's defaults (one step per `tf.function` call, XLA off on CPU) cost this project's
small models most of their speed: on the MNIST-1D paper CNN, a default Keras 3 `fit`
takes about 1.8x the step time of tf_keras's, and `steps_per_execution` > 1 with XLA
brings it back under tf_keras's (benchmarks/step_time_vs_tf_keras.py). With
`training.steps_per_execution: auto` and `training.jit_compile: auto` (the defaults) the
runner decides, stage by stage:

- `steps_per_execution`: 1 when a callback declares that its batch hooks must run after
  every optimizer step (`per_step_hooks`, see :func:`needs_each_step`) or the strategy is
  distributed; otherwise up to :data:`MAX_STEPS_PER_EXECUTION` steps per call, a divisor
  of the epoch and of the stage's last epoch where one of at least
  :data:`MIN_STEPS_PER_EXECUTION` exists (so epochs end on execution boundaries and one
  iterator serves the whole `fit`; see :func:`rule_steps_per_execution`), and short
  enough that one execution takes at most :data:`MAX_EXECUTION_SECONDS` once a step has
  been timed.
- `jit_compile`: off where XLA cannot help or is not allowed (op determinism, a layer that
  does not support XLA, a distributed strategy: Keras's own rules; a stage of fewer than
  :data:`MIN_XLA_STEPS` steps). Otherwise by predicted total time: the train step without
  XLA is traced and timed first (that trace is the one `fit` runs, so it costs nothing
  when XLA is not chosen); XLA's compile cost is predicted as :data:`XLA_COMPILE_FACTOR`
  times that first execution and its step time as :data:`XLA_STEP_FACTOR` times the
  plain one. XLA is compiled (one execution on the real model, whose result is
  discarded) only when compile + steps x XLA step is predicted under steps x plain step:
  a short stage pays no compile and no probe. A model XLA cannot compile falls back to no
  XLA, and the run says so once. When the stage is long enough for a timed comparison to
  cost under :data:`PROBE_BUDGET` of its steps, XLA and no XLA are timed on the real model
  and data, interleaved, and the faster one is kept. What was measured is kept for the
  process by model signature (:data:`MEASURED`): a sweep's later trials, and later
  stages, of the same model, batch and device measure nothing again and decide on their
  own step budgets with the measured compile cost and step times.

This module holds the decision (no TensorFlow); :mod:`kerasopt.recipe.run.execution_probe`
times the settings on the model.
"""

from __future__ import annotations

import dataclasses
import math
from typing import Any, Protocol

MAX_STEPS_PER_EXECUTION = 32
"""Steps per `tf.function` call at most: on the MNIST-1D CNN (2-core CPU, XLA) 6, 12 and 36
steps per execution measured within noise of each other and 1.1-1.5x faster than 1 step."""
MIN_STEPS_PER_EXECUTION = 4
"""A step budget's last execution is shortened (one retrace) rather than running every
execution with fewer steps than this."""
MAX_EXECUTION_SECONDS = 0.5
"""Callbacks, the progress bar and Ctrl-C act between executions: keep one this short."""
MIN_XLA_STEPS = 1000
"""Shorter stages skip XLA without measuring anything: compiling costs 1-5 s on a 2-core
CPU (tens of seconds on a busy one), and XLA saves about 1 ms per step on the MNIST-1D CNN,
so it pays off only after some 1000-5000 steps."""
XLA_COMPILE_FACTOR = 3.0
"""Predicted XLA compile cost, as a multiple of the first execution without XLA (tracing
it): both are CPU-bound graph work and scale alike with the model and the host's load. On
the MNIST-1D CNN (2-core CPU) the first XLA execution took 2.5-3.5x the first plain one."""
XLA_STEP_FACTOR = 0.7
"""Predicted XLA step time, as a fraction of the measured step time without XLA: on the
MNIST-1D CNN (2-core CPU, 18 steps per execution) 0.6-0.8."""
PROBE_BUDGET = 0.02
"""A timed comparison of XLA against no XLA (once XLA is predicted to pay off and compiled)
runs only when its steps are at most this fraction of the stage's."""
COMPARISON_ROUNDS = 3
"""Interleaved rounds of the comparison (medians are compared; the host may be shared)."""
COMPARISON_EXECUTIONS = 2
"""Timed executions per setting and round."""


@dataclasses.dataclass(frozen=True)
class ExecutionPlan:
    """The `steps_per_execution` and `jit_compile` of one stage, and how they were chosen.

    Attributes:
        steps_per_execution: Optimizer steps per `tf.function` call.
        jit_compile: Whether the train step is compiled with XLA.
        chosen_by: `"recipe"` (both set explicitly), `"rule"` (the automatic rules
            above without a timing), `"estimate"` (predicted total times decided XLA) or
            `"probe"` (a timed comparison decided XLA).
        reason: One sentence on why.
        probe: What was timed and predicted: milliseconds per step by setting (`"xla"`,
            `"no_xla"`, measured or predicted) and, for `"estimate"`, the predicted
            seconds of the rest of the stage by setting (`"predicted_seconds"`); or None.
    """

    steps_per_execution: int
    jit_compile: bool
    chosen_by: str
    reason: str
    probe: dict[str, Any] | None = None

    def as_dict(self) -> dict[str, Any]:
        """JSON data for `metrics.json` and `checkpoints/progress.json`."""
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> ExecutionPlan:
        """The plan recorded by :meth:`as_dict` (a resumed stage trains as it started)."""
        return cls(int(data["steps_per_execution"]), bool(data["jit_compile"]), str(data["chosen_by"]),
                   str(data["reason"]), data.get("probe"))


@dataclasses.dataclass(frozen=True)
class WarmUp:
    """The first executions of a train step (XLA or not) on the real model.

    Attributes:
        error: Why XLA failed to compile the model (`"Type: message"`), or None.
        seconds: Wall time of the first execution (tracing and compiling included).
        step_seconds: Seconds per step of later executions, or None when XLA failed.
    """

    error: str | None
    seconds: float
    step_seconds: float | None


@dataclasses.dataclass
class Measured:
    """What was measured on one kind of model, batch and device, reused within the process.

    A sweep's trials (and a run's later stages) with the same :attr:`signature` skip the
    measurements: only the predicted totals are compared again for their own step budgets.

    Attributes:
        plain: The first executions without XLA, or None.
        xla: The first executions with XLA (or its compile error), or None.
        compared: Seconds per step by `jit_compile` from a timed comparison, or None.
    """

    plain: WarmUp | None = None
    xla: WarmUp | None = None
    compared: dict[bool, float] | None = None

    def step_seconds(self, jit: bool) -> float:
        """Seconds per step with or without XLA: compared, else measured, else predicted."""
        if self.compared is not None:
            return self.compared[jit]
        warm = self.xla if jit else self.plain
        if warm is not None and warm.step_seconds:
            return warm.step_seconds
        plain = self.plain.step_seconds if self.plain is not None else None
        return XLA_STEP_FACTOR * (plain or 0.0) if jit else (plain or 0.0)

    def compile_seconds(self) -> float:
        """XLA's one-time cost on a new model: as measured here, else predicted from the plain
        first execution (:data:`XLA_COMPILE_FACTOR`)."""
        if self.xla is not None:
            return self.xla.seconds
        return XLA_COMPILE_FACTOR * (self.plain.seconds if self.plain is not None else 0.0)

    def predicted_seconds(self, steps: int, *, compile_paid: bool = False) -> dict[str, float]:
        """Predicted seconds of `steps` steps by setting (`"xla"`, `"no_xla"`), XLA's compile
        included unless it is already paid on this model."""
        compile_cost = 0.0 if compile_paid else self.compile_seconds()
        return {"xla": compile_cost + steps * self.step_seconds(True),
                "no_xla": steps * self.step_seconds(False)}


MEASURED: dict[str, Measured] = {}
"""Measurements by model signature (:func:`kerasopt.recipe.run.execution_probe.signature`),
for this process: trials of a sweep and stages of a run reuse them."""


class Probe(Protocol):
    """What :func:`decide` needs from a model: warm-ups and timed comparisons."""

    def warm_up(self, steps_per_execution: int, jit: bool = True) -> WarmUp:
        """Trace (and with `jit`, compile with XLA) the train step and run it; see :class:`WarmUp`."""

    def compare(self, steps_per_execution: int, rounds: int, executions: int) -> dict[bool, float]:
        """Seconds per step with XLA (`True`) and without (`False`), medians of interleaved rounds."""


def needs_each_step(callback: Any) -> bool:
    """Whether a callback's batch hooks must run after every optimizer step.

    A callback declares it with a `per_step_hooks` attribute (or property): kerasopt's
    LR finder, gradient monitor, pruning updates, batch-checking divergence recovery and
    batch-logging TensorBoard set it True; callbacks that handle several steps per
    execution set it False. A callback without the attribute needs every step if it
    overrides a training batch hook of `keras.callbacks.Callback` (Keras cannot know what
    such a hook expects).

    Example:
        >>> import keras
        >>> class EveryBatch(keras.callbacks.Callback):
        ...     def on_train_batch_end(self, batch, logs=None):
        ...         pass
        >>> needs_each_step(EveryBatch()), needs_each_step(keras.callbacks.EarlyStopping())
        (True, False)
    """
    declared = getattr(callback, "per_step_hooks", None)
    if declared is not None:
        return bool(declared)
    import keras

    base = keras.callbacks.Callback
    return any(getattr(type(callback), hook, None) is not getattr(base, hook)
               for hook in ("on_train_batch_begin", "on_train_batch_end", "on_batch_begin", "on_batch_end"))


def rule_steps_per_execution(steps_per_epoch: int, total_steps: int, cap: int = MAX_STEPS_PER_EXECUTION) -> int:
    """Steps per execution for a stage without per-step hooks.

    Up to `cap` (and one epoch), and at least :data:`MIN_STEPS_PER_EXECUTION` where
    possible, taken as the largest divisor of, in this order of preference:

    1. both the epoch and the last epoch's steps `r` (the whole epoch when the step budget
       ends on an epoch boundary): every epoch and the stage end on an execution boundary,
       so `fit` runs over one iterator of endless passes
       (:func:`kerasopt.recipe.run.run_context._training_passes`), which on the MNIST-1D CNN
       saves more (0.5-0.9 ms per step) than executions of 32 steps instead of 12 (0.1);
    2. `r`: the stage ends on an execution boundary; epochs get an iterator each;
    3. the epoch: endless passes, and the last execution is shortened
       (:class:`~kerasopt.recipe.run.run_callbacks.StepLimit`), which retraces the train step
       once: about as long as the first compile (seconds with XLA on a busy CPU).

    Otherwise (`r` and the epoch without such divisors: 37 batches, a budget 1 step into
    an epoch...) `cap`, or the epoch if shorter, and the last execution is shortened.

    Args:
        steps_per_epoch: Batches per epoch.
        total_steps: Steps of the stage.
        cap: The most steps per execution. Defaults to `MAX_STEPS_PER_EXECUTION`.

    Example:
        >>> rule_steps_per_execution(36, 36 * 5), rule_steps_per_execution(36, 6000)
        (18, 12)
        >>> rule_steps_per_execution(36, 36 * 5 + 10), rule_steps_per_execution(36, 36 * 5 + 1)
        (10, 18)
        >>> rule_steps_per_execution(37, 37 * 5 + 1), rule_steps_per_execution(3, 30)
        (32, 3)
    """
    full = max(1, min(cap, steps_per_epoch))
    last = total_steps % steps_per_epoch or steps_per_epoch
    floor = min(MIN_STEPS_PER_EXECUTION, full)
    for whole in (math.gcd(steps_per_epoch, last), last, steps_per_epoch):
        best = max(d for d in range(1, min(full, whole) + 1) if whole % d == 0)
        if best >= floor:
            return best
    return full


def decide(steps_per_execution: int | str, jit_compile: bool | str, *, steps_per_epoch: int,
           total_steps: int, per_step: list[str], distributed: bool, jit_blocker: str | None,
           probe: Probe, signature: str | None = None) -> tuple[ExecutionPlan, str | None]:
    """Choose a stage's `steps_per_execution` and `jit_compile`.

    Args:
        steps_per_execution: The recipe's value (`"auto"` or an integer).
        jit_compile: The recipe's value (`"auto"` or a bool).
        steps_per_epoch: Batches per epoch.
        total_steps: Steps of the stage.
        per_step: Names of the stage's callbacks that need every step.
        distributed: Whether the strategy has more than one replica or worker.
        jit_blocker: Why XLA is not an option (determinism, a layer), or None.
        probe: Warms up and times settings on the model.
        signature: The model's kind, batch and device
            (:func:`kerasopt.recipe.run.execution_probe.signature`): what was measured on an
            earlier model of that signature in this process (:data:`MEASURED`) is reused
            instead of measured again. None measures afresh. Defaults to `None`.

    Returns:
        The plan, and a note for the output when XLA failed to compile the model (else None).
    """
    if steps_per_execution == "auto":
        if per_step:
            spe, why = 1, f"callbacks with per-step hooks: {', '.join(per_step)}"
        elif distributed:
            spe, why = 1, "a distributed strategy (Keras's defaults)"
        else:
            spe, why = rule_steps_per_execution(steps_per_epoch, total_steps), "no per-step hooks"
    else:
        spe, why = int(steps_per_execution), "set by the recipe"
    if jit_compile != "auto":
        chosen_by = "recipe" if steps_per_execution != "auto" else "rule"
        return ExecutionPlan(spe, bool(jit_compile), chosen_by, f"{why}; jit_compile set by the recipe"), None
    if not jit_blocker and total_steps < MIN_XLA_STEPS:
        jit_blocker = f"the stage is shorter than {MIN_XLA_STEPS} steps, too short to win back compiling"
    if distributed or jit_blocker:
        return ExecutionPlan(spe, False, "rule", f"{why}; no XLA: {jit_blocker or 'a distributed strategy'}"), None
    known = MEASURED.setdefault(signature, Measured()) if signature else Measured()
    if known.plain is None:
        known.plain = probe.warm_up(spe, False)
    if known.xla is not None and known.xla.error is not None:
        note = f"XLA cannot compile the model ({known.xla.error}); training without jit_compile."
        return ExecutionPlan(spe, False, "rule", f"{why}; {note}"), note
    predicted = known.predicted_seconds(total_steps)
    jit = predicted["xla"] < predicted["no_xla"]
    if not jit or known.xla is not None:  # decided by the prediction, or measured before
        reason = (f"{why}; {'XLA' if jit else 'no XLA'}: {total_steps} steps predicted to take "
                  f"{predicted['xla']:.1f} s with XLA (compiling included), "
                  f"{predicted['no_xla']:.1f} s without")
        timing = {"xla": 1e3 * known.step_seconds(True), "no_xla": 1e3 * known.step_seconds(False),
                  "predicted_seconds": predicted}
        step = known.step_seconds(jit)
        return ExecutionPlan(_time_capped(spe, steps_per_execution, steps_per_epoch, total_steps, step),
                             jit, "estimate", reason, timing), None
    known.xla = probe.warm_up(spe, True)
    if known.xla.error is not None:
        note = f"XLA cannot compile the model ({known.xla.error}); training without jit_compile."
        return ExecutionPlan(spe, False, "rule", f"{why}; {note}"), note
    step = known.step_seconds(True)
    if 2 * COMPARISON_ROUNDS * COMPARISON_EXECUTIONS * spe > PROBE_BUDGET * total_steps:
        timing = {"xla": 1e3 * step, "no_xla": 1e3 * known.step_seconds(False)}
        plan = ExecutionPlan(_time_capped(spe, steps_per_execution, steps_per_epoch, total_steps, step),
                             True, "estimate", f"{why}; XLA compiles the model (predicted to pay off; "
                             "the stage is too short for a timed comparison to)", timing)
        return plan, None
    known.compared = times = probe.compare(spe, COMPARISON_ROUNDS, COMPARISON_EXECUTIONS)
    jit = times[True] <= times[False]
    step = times[jit]
    timing = {"xla": 1e3 * times[True], "no_xla": 1e3 * times[False]}
    faster = "XLA" if jit else "no XLA"
    return ExecutionPlan(_time_capped(spe, steps_per_execution, steps_per_epoch, total_steps, step),
                         jit, "probe", f"{why}; {faster} was faster on this model and device",
                         timing), None


def _time_capped(spe: int, setting: int | str, steps_per_epoch: int, total_steps: int, step: float) -> int:
    """`spe`, lowered for slow steps so one execution takes at most MAX_EXECUTION_SECONDS."""
    if setting != "auto" or step <= 0 or spe * step <= MAX_EXECUTION_SECONDS:
        return spe
    cap = max(1, math.floor(MAX_EXECUTION_SECONDS / step))
    return rule_steps_per_execution(steps_per_epoch, total_steps, cap=cap)
