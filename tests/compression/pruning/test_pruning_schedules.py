"""Pruning schedules against the Zhu & Gupta (2017) formula, re-derived here in NumPy."""

import json

import keras
import pytest
import tensorflow as tf

from kerasopt import registry
from kerasopt.compression.pruning import ConstantSparsity, PolynomialDecay


def reference(step, s_i, s_f, t0, t_end, power, frequency):
    """Zhu & Gupta Eq. 1 with n*dt = t_end - t0, clamped, gated every `frequency` steps from t0.

    Written from the paper and tfmot's documented semantics: masks update at
    t0, t0 + frequency, ... while t <= t_end (always when t_end == -1).
    """
    gate = step >= t0 and (t_end == -1 or step <= t_end) and (step - t0) % frequency == 0
    if t_end == -1:
        return gate, s_f
    progress = min(1.0, max(0.0, (step - t0) / (t_end - t0)))
    return gate, s_f + (s_i - s_f) * (1.0 - progress) ** power


POLY_CASES = [
    # (initial, final, begin, end, power, frequency)
    (0.0, 0.8, 0, 20, 3, 5),
    (0.1, 0.9, 7, 30, 1, 4),  # end - begin (23) not a multiple of frequency
    (0.5, 0.5, 3, 9, 2, 1),
    (0.3, 0.6, 2, 12, 0.5, 3),
]


@pytest.mark.parametrize("args", POLY_CASES)
def test_polynomial_decay_every_step_on_host_matches_reference(args):
    schedule = PolynomialDecay(*args)
    s_i, s_f, t0, t_end, power, frequency = args
    for step in range(0, t_end + 2 * frequency + 3):
        should_prune, sparsity = schedule(step)
        want_gate, want_sparsity = reference(step, s_i, s_f, t0, t_end, power, frequency)
        assert isinstance(should_prune, bool) and isinstance(sparsity, float)
        assert should_prune == want_gate, step
        assert sparsity == pytest.approx(want_sparsity, rel=1e-12, abs=1e-12), step


@pytest.mark.parametrize("args", POLY_CASES)
def test_polynomial_decay_on_tensors_and_in_a_graph_matches_reference(args):
    schedule = PolynomialDecay(*args)
    s_i, s_f, t0, t_end, power, frequency = args
    graph = tf.function(schedule)
    for step in range(0, t_end + 2 * frequency + 3):
        want_gate, want_sparsity = reference(step, s_i, s_f, t0, t_end, power, frequency)
        for should_prune, sparsity in (schedule(keras.ops.convert_to_tensor(step)),
                                       graph(tf.constant(step, tf.int64))):
            assert sparsity.dtype == tf.float32
            assert bool(should_prune) == want_gate, step
            assert float(sparsity) == pytest.approx(want_sparsity, rel=1e-6, abs=1e-7), step


def test_polynomial_decay_boundaries():
    schedule = PolynomialDecay(0.2, 0.8, begin_step=10, end_step=30, power=3, frequency=10)
    assert schedule(9) == (False, pytest.approx(0.2))  # before begin: no pruning, initial value
    assert schedule(10) == (True, pytest.approx(0.2))  # at begin
    assert schedule(11) == (False, pytest.approx(0.8 - 0.6 * 0.95 ** 3))  # between turns
    assert schedule(20) == (True, pytest.approx(0.8 - 0.6 * 0.5 ** 3))
    assert schedule(30) == (True, pytest.approx(0.8))  # at end: final sparsity, still gated
    assert schedule(40) == (False, pytest.approx(0.8))  # after end: on a turn but out of range


def test_constant_sparsity_steps_and_endless_default():
    schedule = ConstantSparsity(0.6, begin_step=3, frequency=4)
    gates = [schedule(step)[0] for step in range(0, 16)]
    assert gates == [step >= 3 and (step - 3) % 4 == 0 for step in range(16)]
    assert schedule(3 + 4 * 10**6) == (True, 0.6)  # end_step=-1: no end
    bounded = ConstantSparsity(0.6, begin_step=0, end_step=8, frequency=4)
    assert [bounded(s)[0] for s in (0, 4, 8, 12)] == [True, True, True, False]
    should_prune, sparsity = tf.function(bounded)(tf.constant(12))
    assert not bool(should_prune) and float(sparsity) == pytest.approx(0.6)


@pytest.mark.parametrize("kwargs, match", [
    ({"initial_sparsity": 1.0}, r"`initial_sparsity` must be .*< 1.* Received: initial_sparsity=1.0"),
    ({"final_sparsity": -0.1}, r"`final_sparsity` must be a number >= 0.* Received: final_sparsity=-0.1"),
    ({"begin_step": -1}, r"`begin_step` must be an integer >= 0. Received: begin_step=-1"),
    ({"begin_step": 1.5}, r"Received: begin_step=1.5"),
    ({"end_step": 5}, r"`end_step` must be an integer > begin_step \(5\). Received: end_step=5"),
    ({"end_step": -1}, r"Received: end_step=-1"),  # no endless polynomial decay
    ({"power": 0}, r"`power` must be a number > 0. Received: power=0"),
    ({"frequency": 0}, r"`frequency` must be an integer >= 1. Received: frequency=0"),
])
def test_polynomial_decay_validation(kwargs, match):
    args = {"initial_sparsity": 0.0, "final_sparsity": 0.5, "begin_step": 5, "end_step": 10,
            **kwargs}
    with pytest.raises(ValueError, match=match):
        PolynomialDecay(**args)


def test_constant_sparsity_validation():
    with pytest.raises(ValueError, match=r"`end_step` must be .* or -1 \(no end\). Received: end_step=-2"):
        ConstantSparsity(0.5, end_step=-2)
    with pytest.raises(ValueError, match=r"Received: target_sparsity=1"):
        ConstantSparsity(1)
    with pytest.raises(ValueError, match=r"Received: frequency=True"):
        ConstantSparsity(0.5, frequency=True)


@pytest.mark.parametrize("schedule", [
    PolynomialDecay(0.1, 0.9, 2, 40, power=2, frequency=7),
    ConstantSparsity(0.25, begin_step=4, end_step=-1, frequency=3),
])
def test_config_round_trips(schedule):
    config = schedule.get_config()
    json.dumps(config)
    assert type(schedule).from_config(config).get_config() == config
    restored = keras.saving.deserialize_keras_object(keras.saving.serialize_keras_object(schedule))
    assert type(restored) is type(schedule) and restored.get_config() == config
    built = registry.build("pruning_schedule", {"type": registry.snake_case(type(schedule).__name__),
                                                **config})
    assert type(built) is type(schedule) and built.get_config() == config


def test_config_keeps_values_as_given():
    assert PolynomialDecay(0, 0.5, 0, 1000).get_config() == {
        "initial_sparsity": 0, "final_sparsity": 0.5, "begin_step": 0, "end_step": 1000,
        "power": 3, "frequency": 100}
