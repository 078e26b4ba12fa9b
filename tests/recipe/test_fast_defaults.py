"""Automatic `steps_per_execution` and `jit_compile`: the rules, the decision on fake timings,
per-step callbacks, XLA fallback, a probe that leaves no trace, and exact step budgets."""

from __future__ import annotations

import json
from types import SimpleNamespace

import keras
import numpy as np
import pytest
import tensorflow as tf

from kerasopt.callbacks import (
    DivergenceRecovery,
    GradientMonitor,
    LearningRateLogger,
    LRFinder,
    TensorBoard,
    TimeStopping,
)
from kerasopt.compression.pruning import UpdatePruning
from kerasopt.recipe.check.loader import load_recipe
from kerasopt.recipe.run import execution_plan
from kerasopt.recipe.run.execution_plan import (
    ExecutionPlan,
    WarmUp,
    decide,
    needs_each_step,
    rule_steps_per_execution,
)
from kerasopt.recipe.run.execution_probe import ExecutionProbe
from kerasopt.recipe.run.run_callbacks import StepLimit
from kerasopt.recipe.run.run_context import _training_passes
from kerasopt.recipe.run.runner import run
from tests.tiny_recipe import TINY, write_tiny_recipe


class FakeProbe:
    """Scripted warm-ups (by `jit`) and comparison results; records what was asked."""

    def __init__(self, warm: dict[bool, WarmUp], times: dict[bool, float] | None = None) -> None:
        self.warm, self.times, self.calls = warm, times, []

    def warm_up(self, steps_per_execution, jit=True):
        self.calls.append(("warm_up", steps_per_execution, jit))
        return self.warm[jit]

    def compare(self, steps_per_execution, rounds, executions):
        self.calls.append(("compare", steps_per_execution, rounds, executions))
        return self.times


# The MNIST-1D CNN on a quiet 2-core CPU: the first plain execution (tracing) 0.5 s, then
# 3 ms per step; XLA compiles in 1.5 s (first execution) and steps in 2 ms.
PLAIN = WarmUp(None, 0.5, 0.003)
XLA = WarmUp(None, 1.5, 0.002)


def _decide(probe, spe="auto", jit="auto", **kwargs):
    settings = {"steps_per_epoch": 36, "total_steps": 6000, "per_step": [], "distributed": False,
                "jit_blocker": None, **kwargs}
    return decide(spe, jit, probe=probe, **settings)


@pytest.mark.parametrize(("per_epoch", "total", "expected"), [
    (36, 6000, 12),       # 6000 = 166 * 36 + 24; 12 divides 36 and 24: epochs and stage end on boundaries
    (36, 36 * 5, 18),     # whole epochs: the largest divisor of 36 up to the cap of 32
    (36, 36 * 5 + 28, 4),  # gcd(36, 28) = 4 is still worth it
    (36, 36 * 5 + 10, 10),  # gcd(36, 10) = 2 < 4: the stage ends on a boundary, epochs do not
    (36, 36 * 5 + 3, 18),  # 3 and gcd 3 < 4: epochs end on boundaries, the last execution is shortened
    (36, 36 * 5 + 1, 18),
    (11, 30, 8),          # 30 = 11 + 11 + 8; 11 is prime
    (11, 34, 11),         # 34 = 3 * 11 + 1
    (5, 12, 5),           # an epoch shorter than the cap; 12 = 5 + 5 + 2, gcd 1, 2 < 4
    (100, 1000, 25),
    (37, 37 * 5 + 1, 32),  # nothing divides: the cap, and the last execution is shortened
    (3, 30, 3),           # an epoch shorter than 4 steps
])
def test_rule_prefers_divisors_of_the_epoch_and_the_last_partial_epoch(per_epoch, total, expected):
    assert rule_steps_per_execution(per_epoch, total) == expected


def test_a_short_stage_gets_no_xla_when_compiling_costs_more_than_it_saves():
    # 1080 steps (30 epochs of 36): predicted with XLA 3 * 0.5 s + 1080 * 0.7 * 3 ms = 3.77 s,
    # without 1080 * 3 ms = 3.24 s. Only the plain step (traced anyway for fit) is run.
    probe = FakeProbe({False: PLAIN, True: XLA})
    plan, note = _decide(probe, total_steps=1080)
    assert probe.calls == [("warm_up", 18, False)]
    assert (plan.steps_per_execution, plan.jit_compile, plan.chosen_by) == (18, False, "estimate")
    assert plan.probe["predicted_seconds"] == pytest.approx({"xla": 3.768, "no_xla": 3.24})
    assert note is None and "3.8 s with XLA (compiling included), 3.2 s without" in plan.reason


def test_a_long_stage_keeps_xla_without_a_timed_comparison():
    # 6000 steps: predicted 1.5 s + 6000 * 2.1 ms = 14.1 s with XLA against 18 s: XLA is compiled.
    # The comparison's 2 * 3 * 2 * 12 = 144 steps are over 2% of 6000 (120): not timed.
    probe = FakeProbe({False: PLAIN, True: XLA})
    plan, note = _decide(probe)
    assert probe.calls == [("warm_up", 12, False), ("warm_up", 12, True)]
    assert (plan.steps_per_execution, plan.jit_compile, plan.chosen_by) == (12, True, "estimate")
    assert plan.probe == pytest.approx({"xla": 2.0, "no_xla": 3.0}) and note is None


@pytest.mark.parametrize(("xla", "no_xla", "expected"), [(0.002, 0.004, True), (0.005, 0.003, False)])
def test_a_very_long_stage_keeps_the_faster_setting(xla, no_xla, expected):
    # 60000 steps: 144 comparison steps are under 2% (1200), so both settings are timed.
    probe = FakeProbe({False: PLAIN, True: XLA}, {True: xla, False: no_xla})
    plan, note = _decide(probe, total_steps=60000)
    assert probe.calls == [("warm_up", 12, False), ("warm_up", 12, True), ("compare", 12, 3, 2)]
    assert plan.jit_compile is expected and plan.chosen_by == "probe" and note is None
    assert plan.probe == pytest.approx({"xla": 1e3 * xla, "no_xla": 1e3 * no_xla})


def test_trials_of_one_signature_reuse_the_measurements():
    # A sweep: the first trial (6000 steps) measures both settings; later trials of the same
    # model, batch and device measure nothing and decide on their own step budgets with the
    # measured compile cost: 1080 steps, 1.5 + 2.16 = 3.66 s > 3.24 s: no XLA; 2000 steps,
    # 1.5 + 4 = 5.5 s < 6 s: XLA.
    signature = "trials-of-one-signature"
    execution_plan.MEASURED.pop(signature, None)
    first = FakeProbe({False: PLAIN, True: XLA})
    assert _decide(first, signature=signature)[0].jit_compile is True
    assert len(first.calls) == 2
    later = FakeProbe({})
    short = _decide(later, total_steps=1080, signature=signature)[0]
    longer = _decide(later, total_steps=2000, signature=signature)[0]
    assert later.calls == []
    assert (short.jit_compile, short.chosen_by, longer.jit_compile) == (False, "estimate", True)
    assert short.probe["predicted_seconds"] == pytest.approx({"xla": 3.66, "no_xla": 3.24})
    other = FakeProbe({False: PLAIN, True: XLA})
    _decide(other, total_steps=1080, signature="another-signature")
    assert other.calls == [("warm_up", 18, False)]
    execution_plan.MEASURED.pop(signature, None)
    execution_plan.MEASURED.pop("another-signature", None)


def test_an_xla_failure_falls_back_with_one_note_and_is_remembered():
    signature = "xla-failure"
    execution_plan.MEASURED.pop(signature, None)
    failing = WarmUp("InvalidArgumentError: Detected unsupported operations", 2.0, None)
    probe = FakeProbe({False: PLAIN, True: failing})
    plan, note = _decide(probe, signature=signature)
    assert not plan.jit_compile and plan.steps_per_execution == 12
    assert note.startswith("XLA cannot compile the model (InvalidArgumentError") and note in plan.reason
    again = FakeProbe({})
    assert _decide(again, signature=signature) == (plan, note) and again.calls == []
    execution_plan.MEASURED.pop(signature, None)


def test_per_step_callbacks_force_one_step_per_execution():
    probe = FakeProbe({False: PLAIN, True: XLA}, {True: 0.002, False: 0.003})
    plan, _ = _decide(probe, per_step=["GradientMonitor"])
    assert plan.steps_per_execution == 1 and "GradientMonitor" in plan.reason
    # XLA is still decided; 2 * 3 * 2 * 1 = 12 comparison steps are under 2% of 6000.
    assert probe.calls == [("warm_up", 1, False), ("warm_up", 1, True), ("compare", 1, 3, 2)]


def test_recipe_values_blockers_and_short_stages_need_no_probe():
    probe = FakeProbe({})
    plan, _ = _decide(probe, spe=7, jit=False)
    assert (plan.steps_per_execution, plan.jit_compile, plan.chosen_by) == (7, False, "recipe")
    assert _decide(probe, jit_blocker="op determinism is on")[0].jit_compile is False
    assert _decide(probe, distributed=True)[0].steps_per_execution == 1
    short = _decide(probe, total_steps=execution_plan.MIN_XLA_STEPS - 1)[0]
    assert short.jit_compile is False and "shorter than" in short.reason
    assert probe.calls == []


def test_slow_steps_get_shorter_executions():
    # XLA at 0.1 s per step: at most floor(0.5 / 0.1) = 5 steps per execution, and 4 divides
    # both the epoch (36) and the 24 steps of the last epoch (6000 % 36).
    plan, _ = _decide(FakeProbe({False: WarmUp(None, 1.0, 0.2), True: WarmUp(None, 3.0, 0.1)}))
    assert (plan.steps_per_execution, plan.jit_compile) == (4, True)


def test_a_plan_round_trips_through_json():
    plan = ExecutionPlan(24, True, "probe", "why", {"xla": 2.0, "no_xla": 3.5})
    assert ExecutionPlan.from_dict(json.loads(json.dumps(plan.as_dict()))) == plan


@pytest.mark.parametrize(("callback", "expected"), [
    (LRFinder(), True), (GradientMonitor(), True), (UpdatePruning(), True),
    (DivergenceRecovery(check="batch"), True), (DivergenceRecovery(check="epoch"), False),
    (TensorBoard("logs", update_freq=10), True), (TensorBoard("logs"), False),
    (LearningRateLogger(), False), (TimeStopping(60), False), (StepLimit(5), False),
    (keras.callbacks.EarlyStopping(), False), (keras.callbacks.TerminateOnNaN(), True),
])
def test_callbacks_declare_per_step_hooks(callback, expected):
    assert needs_each_step(callback) is expected


class NumpySquare(keras.layers.Layer):
    """A layer XLA cannot compile (`tf.numpy_function` has no XLA kernel)."""

    def call(self, x):
        y = tf.numpy_function(np.square, [x], tf.float32, stateful=False)
        return tf.ensure_shape(y, x.shape)


def _model_and_data(layer=None):
    keras.utils.set_random_seed(0)
    # The extra layer comes first: a numpy function has no gradient to pass back.
    layers = [keras.Input((4,))] + ([layer] if layer else []) + [keras.layers.Dense(3), keras.layers.Dense(2)]
    model = keras.Sequential(layers)
    model.compile(keras.optimizers.Adam(0.01), "mse", steps_per_execution=1, jit_compile=False)
    rng = np.random.default_rng(0)
    x, y = rng.normal(size=(40, 4)).astype("float32"), rng.normal(size=(40, 2)).astype("float32")
    return model, tf.data.Dataset.from_tensor_slices((x, y)).batch(8)


def test_the_probe_falls_back_on_a_model_xla_cannot_compile_and_leaves_no_trace():
    model, data = _model_and_data(NumpySquare())
    epoch = tf.Variable(3, dtype=tf.int64)
    before = [w.numpy().copy() for w in model.weights]
    probe = ExecutionProbe(model, data, data_epoch=epoch)
    warm = probe.warm_up(4)
    assert warm.error is not None and warm.error.startswith(("InvalidArgumentError", "UnimplementedError"))
    plan, note = _decide(FakeProbe({False: PLAIN, True: warm}))
    probe.finish(plan)
    assert note is not None and model.jit_compile is False and model.steps_per_execution == 12
    for saved, weight in zip(before, model.weights, strict=True):
        np.testing.assert_array_equal(weight.numpy(), saved)
    assert int(model.optimizer.iterations.numpy()) == 0 and int(epoch.numpy()) == 3
    model.fit(data, epochs=1, verbose=0, shuffle=False)  # trains without XLA
    assert int(model.optimizer.iterations.numpy()) == 5


def test_a_probed_xla_function_is_kept_and_trains_like_a_fresh_one():
    reference, data = _model_and_data()
    reference.jit_compile, reference.steps_per_execution = True, 5
    reference.fit(data, epochs=2, verbose=0, shuffle=False)
    model, _ = _model_and_data()
    probe = ExecutionProbe(model, data)
    warm = probe.warm_up(5)
    assert warm.error is None and warm.step_seconds > 0
    function = model.train_function
    probe.finish(ExecutionPlan(5, True, "rule", "test"))
    assert model.train_function is function and int(model.optimizer.iterations.numpy()) == 0
    model.fit(data, epochs=2, verbose=0, shuffle=False)
    for a, b in zip(reference.weights, model.weights, strict=True):
        np.testing.assert_allclose(b.numpy(), a.numpy(), rtol=1e-6, atol=1e-7)


@pytest.mark.parametrize(("steps", "spe", "expected", "epochs"), [
    (30, "auto", 8, 3),  # 30 = 11 + 11 + 8: 8, epochs get an iterator each
    (30, 3, 3, 3),       # 11 = 3 + 3 + 3 + 2 per epoch, then 3 + 3 + 2: the last execution shortened
    (33, "auto", 11, 3),  # whole epochs of 11: endless passes
    (34, "auto", 11, 4),  # endless passes, and the last execution shortened to 1 step
])
def test_step_budgets_stay_exact_with_several_steps_per_execution(tmp_path, steps, spe, expected, epochs):
    # 162 training examples in batches of 16: 11 steps per epoch.
    path = write_tiny_recipe(tmp_path, training={"steps": steps, "epochs": None, "steps_per_execution": spe})
    metrics = run(load_recipe(path), output_dir=str(tmp_path / "out"))
    (stage,) = metrics["stages"]
    assert metrics["timing"]["train_steps"] == stage["steps"] == steps and stage["epochs"] == epochs
    assert stage["execution"]["steps_per_execution"] == expected
    assert metrics["timing"]["steps_per_execution"] == stage["execution"]["steps_per_execution"]


def test_endless_passes_train_exactly_as_one_iterator_per_epoch(tmp_path):
    # 11 batches per epoch: 11 steps per execution divides it (one iterator of endless
    # passes for the whole fit), 2 does not (a finite pass per epoch). The batches, their
    # order and their augmentation must be the same, so the histories are.
    histories = {}
    for spe in (11, 2):
        folder = tmp_path / f"spe{spe}"
        folder.mkdir()
        path = write_tiny_recipe(folder, training={"epochs": 4, "steps_per_execution": spe},
                                 data={**TINY["data"], "augmentation": [{"type": "noise", "stddev": 0.3}]})
        metrics = run(load_recipe(path), output_dir=str(folder / "out"))
        histories[spe] = metrics["stages"][0]["history"]
    assert set(histories[11]) >= {"loss", "val_loss"} and len(histories[11]["loss"]) == 4
    for key, values in histories[2].items():
        np.testing.assert_allclose(histories[11][key], values, rtol=1e-5, err_msg=key)


def test_fit_gets_endless_passes_only_when_epochs_end_on_execution_boundaries():
    data = SimpleNamespace(train=tf.data.Dataset.range(11).batch(1), train_endless="endless", steps_per_epoch=11)
    assert _training_passes(data, 11) == ("endless", 11) and _training_passes(data, 1) == ("endless", 11)
    assert _training_passes(data, 2) == (data.train, 11)
    assert _training_passes(SimpleNamespace(train=data.train, train_endless=None, steps_per_epoch=11), 1) == (data.train, 11)
