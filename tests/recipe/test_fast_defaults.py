"""Automatic `steps_per_execution` and `jit_compile`: the rules, the decision on fake timings,
per-step callbacks, XLA fallback, a probe that leaves no trace, and exact step budgets."""

from __future__ import annotations

import json

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
from kerasopt.recipe import execution_plan
from kerasopt.recipe.execution_plan import (
    ExecutionPlan,
    WarmUp,
    decide,
    needs_each_step,
    rule_steps_per_execution,
)
from kerasopt.recipe.execution_probe import ExecutionProbe
from kerasopt.recipe.loader import load_recipe
from kerasopt.recipe.run_callbacks import StepLimit
from kerasopt.recipe.runner import run
from tests.tiny_recipe import write_tiny_recipe


class FakeProbe:
    """Scripted warm-up and comparison results; records what was asked."""

    def __init__(self, warm: WarmUp, times: dict[bool, float] | None = None) -> None:
        self.warm, self.times, self.calls = warm, times, []

    def warm_up(self, steps_per_execution):
        self.calls.append(("warm_up", steps_per_execution))
        return self.warm

    def compare(self, steps_per_execution, rounds, executions):
        self.calls.append(("compare", steps_per_execution, rounds, executions))
        return self.times


def _decide(probe, spe="auto", jit="auto", **kwargs):
    settings = {"steps_per_epoch": 36, "total_steps": 6000, "per_step": [], "distributed": False,
                "jit_blocker": None, **kwargs}
    return decide(spe, jit, probe=probe, **settings)


@pytest.mark.parametrize(("per_epoch", "total", "expected"), [
    (36, 6000, 24),       # 6000 = 166 * 36 + 24: the budget ends on an execution boundary
    (36, 36 * 5, 32),     # whole epochs: the cap
    (36, 36 * 5 + 28, 28),
    (36, 36 * 5 + 4, 4),  # 4 is still worth it
    (36, 36 * 5 + 3, 32),  # 3, 1: keep 32 and shorten the last execution
    (36, 36 * 5 + 1, 32),
    (11, 30, 8),          # 30 = 11 + 11 + 8
    (5, 12, 5),           # an epoch shorter than the cap; 2 < 4, so the last execution is shortened
    (100, 1000, 32),
])
def test_rule_prefers_divisors_of_the_last_partial_epoch(per_epoch, total, expected):
    assert rule_steps_per_execution(per_epoch, total) == expected


def test_a_short_stage_keeps_xla_without_a_timed_comparison():
    # Comparison cost: 1.0 s + 2*3*2*24 steps * 3 ms = 1.864 s > 5% of 6000 steps * 3 ms (0.9 s).
    probe = FakeProbe(WarmUp(None, 1.0, 0.003))
    plan, note = _decide(probe)
    assert (plan.steps_per_execution, plan.jit_compile, plan.chosen_by) == (24, True, "rule")
    assert note is None and probe.calls == [("warm_up", 24)]


@pytest.mark.parametrize(("xla", "no_xla", "expected"), [(0.002, 0.004, True), (0.005, 0.003, False)])
def test_a_long_stage_keeps_the_faster_setting(xla, no_xla, expected):
    # 60000 steps: 5% of 60000 * 3 ms = 9 s >= 1.864 s, so both settings are timed.
    probe = FakeProbe(WarmUp(None, 1.0, 0.003), {True: xla, False: no_xla})
    plan, note = _decide(probe, total_steps=60000)
    assert probe.calls == [("warm_up", 24), ("compare", 24, 3, 2)]  # 60000 % 36 = 24
    assert plan.jit_compile is expected and plan.chosen_by == "probe" and note is None
    assert plan.probe == pytest.approx({"xla": 1e3 * xla, "no_xla": 1e3 * no_xla})


def test_an_xla_failure_falls_back_with_one_note():
    probe = FakeProbe(WarmUp("InvalidArgumentError: Detected unsupported operations", 2.0, None))
    plan, note = _decide(probe)
    assert not plan.jit_compile and plan.steps_per_execution == 24
    assert note.startswith("XLA cannot compile the model (InvalidArgumentError") and note in plan.reason


def test_per_step_callbacks_force_one_step_per_execution():
    probe = FakeProbe(WarmUp(None, 1.0, 0.003))
    plan, _ = _decide(probe, per_step=["GradientMonitor"])
    assert plan.steps_per_execution == 1 and "GradientMonitor" in plan.reason
    assert probe.calls == [("warm_up", 1)]  # XLA is still decided


def test_recipe_values_blockers_and_short_stages_need_no_probe():
    probe = FakeProbe(WarmUp(None, 0.1, 0.003))
    plan, _ = _decide(probe, spe=7, jit=False)
    assert (plan.steps_per_execution, plan.jit_compile, plan.chosen_by) == (7, False, "recipe")
    assert _decide(probe, jit_blocker="op determinism is on")[0].jit_compile is False
    assert _decide(probe, distributed=True)[0].steps_per_execution == 1
    short = _decide(probe, total_steps=execution_plan.MIN_XLA_STEPS - 1)[0]
    assert short.jit_compile is False and "shorter than" in short.reason
    assert probe.calls == []


def test_slow_steps_get_shorter_executions():
    # XLA at 0.1 s per step: at most floor(0.5 / 0.1) = 5 steps per execution, and 4 divides
    # the 24 steps of the last epoch (6000 % 36).
    plan, _ = _decide(FakeProbe(WarmUp(None, 1.0, 0.1), {True: 0.1, False: 0.2}))
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
    plan, note = _decide(FakeProbe(warm))
    probe.finish(plan)
    assert note is not None and model.jit_compile is False and model.steps_per_execution == 24
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


@pytest.mark.parametrize("spe", ["auto", 3])
def test_step_budgets_stay_exact_with_several_steps_per_execution(tmp_path, spe):
    # 162 training examples in batches of 16: 11 steps per epoch; 30 = 11 + 11 + 8. auto takes
    # 8; 3 (11 = 3 + 3 + 3 + 2 per epoch, then 3 + 3 + 2) needs the last execution shortened.
    path = write_tiny_recipe(tmp_path, training={"steps": 30, "epochs": None, "steps_per_execution": spe})
    metrics = run(load_recipe(path), output_dir=str(tmp_path / "out"))
    (stage,) = metrics["stages"]
    assert metrics["timing"]["train_steps"] == stage["steps"] == 30 and stage["epochs"] == 3
    assert stage["execution"]["steps_per_execution"] == (8 if spe == "auto" else spe)
    assert metrics["timing"]["steps_per_execution"] == stage["execution"]["steps_per_execution"]
    assert metrics["timing"]["jit_compile"] is False  # 30 steps: too short for XLA


def test_a_per_step_callback_in_a_recipe_runs_one_step_per_execution(tmp_path):
    path = write_tiny_recipe(tmp_path, training={"epochs": 1, "callbacks": [
        {"type": "DivergenceRecovery", "check": "batch"}]})
    metrics = run(load_recipe(path), output_dir=str(tmp_path / "out"))
    execution = metrics["stages"][0]["execution"]
    assert execution["steps_per_execution"] == 1 and "DivergenceRecovery" in execution["reason"]
    progress = json.loads((tmp_path / "out" / "checkpoints" / "progress.json").read_text())
    assert progress["executions"]["train"] == execution  # a resume trains as the stage started


def test_the_lr_range_test_runs_step_by_step_on_a_model_with_several_steps_per_execution():
    from kerasopt.callbacks import find_learning_rate

    model, data = _model_and_data()
    model.steps_per_execution = 4
    finder = find_learning_rate(model, data.repeat(), num_steps=12)
    assert len(finder.lrs) == 12 and model.steps_per_execution == 4  # one rate per step, then put back
