"""`weight_decay` as a schedule of the step, where TF Addons accepted one (RAdam, AdaBelief).

With a zero gradient both optimizers' moment steps are zero (m_hat = 0), so only the decay
term moves the weights: w_{t+1} = w_t (1 - lr wd(t)), with wd(t) the schedule at the
optimizer's step t = 0, 1, 2... (the step a learning-rate schedule sees, TF Addons'
`_decayed_wd(self.iterations)`). After k steps w_k = w_0 prod_{t<k} (1 - lr wd(t)), the
closed form checked below at several steps.
"""

from __future__ import annotations

from collections.abc import Callable

import keras
import numpy as np
import pytest

from kerasopt.optimizers import AdaBelief, NovoGrad, RectifiedAdam

LR = 0.5
W0 = np.array([1.0, -2.0, 4.0])
OPTIMIZERS: dict[str, Callable[..., keras.optimizers.Optimizer]] = {
    "RectifiedAdam": RectifiedAdam,
    "AdaBelief": AdaBelief,
}


def _exponential() -> keras.optimizers.schedules.ExponentialDecay:
    return keras.optimizers.schedules.ExponentialDecay(0.2, decay_steps=1, decay_rate=0.5)


def _decayed_weights(optimizer: keras.optimizers.Optimizer, steps: int) -> list[np.ndarray]:
    variable = keras.Variable(W0.astype("float32"))
    zero = keras.ops.zeros(3)
    history = []
    for _ in range(steps):
        optimizer.apply([zero], [variable])
        history.append(variable.numpy().astype("float64"))
    return history


def _closed_form(decay: Callable[[int], float], steps: int) -> list[np.ndarray]:
    return [W0 * np.prod([1.0 - LR * decay(t) for t in range(k)]) for k in range(1, steps + 1)]


@pytest.mark.parametrize("name", sorted(OPTIMIZERS))
def test_learning_rate_schedule_as_weight_decay(name: str) -> None:
    optimizer = OPTIMIZERS[name](learning_rate=LR, weight_decay=_exponential())
    got = _decayed_weights(optimizer, 6)
    want = _closed_form(lambda t: 0.2 * 0.5**t, 6)
    for step in (0, 1, 3, 5):
        np.testing.assert_allclose(got[step], want[step], rtol=1e-6)


@pytest.mark.parametrize("name", sorted(OPTIMIZERS))
def test_callable_of_the_step_as_weight_decay(name: str) -> None:
    optimizer = OPTIMIZERS[name](learning_rate=LR,
                                 weight_decay=lambda step: 0.05 * (keras.ops.cast(step, "float32") + 1))
    got = _decayed_weights(optimizer, 4)
    want = _closed_form(lambda t: 0.05 * (t + 1), 4)
    np.testing.assert_allclose(np.stack(got), np.stack(want), rtol=1e-6)


def test_schedule_respects_excluded_variables() -> None:
    optimizer = RectifiedAdam(learning_rate=LR, weight_decay=_exponential())
    kept = keras.Variable(W0.astype("float32"))
    optimizer.exclude_from_weight_decay(var_list=[kept])
    optimizer.apply([keras.ops.zeros(3)], [kept])
    np.testing.assert_array_equal(kept.numpy(), W0.astype("float32"))


@pytest.mark.parametrize("name", sorted(OPTIMIZERS))
def test_config_round_trip_with_a_schedule(name: str) -> None:
    optimizer = OPTIMIZERS[name](learning_rate=LR, weight_decay=_exponential())
    config = optimizer.get_config()
    assert config["weight_decay"]["class_name"] == "ExponentialDecay"
    rebuilt = type(optimizer).from_config(config)
    assert isinstance(rebuilt.weight_decay, keras.optimizers.schedules.ExponentialDecay)
    assert rebuilt.weight_decay.get_config() == _exponential().get_config()
    assert rebuilt.get_config() == config
    # And through Keras's own (de)serialization, as a `.keras` file stores it.
    again = keras.saving.deserialize_keras_object(keras.saving.serialize_keras_object(optimizer))
    np.testing.assert_allclose(
        np.stack(_decayed_weights(again, 3)), np.stack(_closed_form(lambda t: 0.2 * 0.5**t, 3)),
        rtol=1e-6)


def test_float_weight_decay_config_is_unchanged() -> None:
    assert RectifiedAdam(weight_decay=0.01).get_config()["weight_decay"] == 0.01


@pytest.mark.parametrize(("value", "match"), [
    (lambda: 0.1, "one argument"),
    ("0.1", "LearningRateSchedule"),
    (-0.1, "weight_decay"),
])
def test_invalid_weight_decay_is_refused(value: object, match: str) -> None:
    with pytest.raises(ValueError, match=match):
        RectifiedAdam(weight_decay=value)


def test_optimizers_tf_addons_gave_no_schedule_refuse_one() -> None:
    # TF Addons' NovoGrad took a float only; so does kerasopt's.
    with pytest.raises(ValueError, match="weight_decay"):
        NovoGrad(weight_decay=_exponential())
