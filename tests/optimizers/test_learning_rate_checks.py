"""Every kerasopt optimizer refuses a negative or non-finite learning rate in `__init__`
(issue 19, item 9: `RAdam(learning_rate=-1.0)` was accepted, though a recipe refuses it)."""

from __future__ import annotations

import keras
import pytest

from kerasopt import registry


def _registered() -> list[type]:
    registry.load_components()
    return sorted(set(registry._REGISTRY["optimizer"].values()), key=lambda cls: cls.__name__)


def _is_wrapper(cls: type) -> bool:
    from kerasopt.optimizers._wrapper import OptimizerWrapper

    return issubclass(cls, OptimizerWrapper)


def test_the_registry_holds_plain_and_wrapping_optimizers():
    classes = _registered()
    assert len(classes) >= 14
    assert any(_is_wrapper(cls) for cls in classes) and not all(_is_wrapper(cls) for cls in classes)


@pytest.mark.parametrize("rate", [-1.0, -1e-9, float("nan"), float("inf")])
@pytest.mark.parametrize("cls", _registered(), ids=lambda cls: cls.__name__)
def test_refuses_a_bad_learning_rate_naming_it(cls, rate):
    if _is_wrapper(cls):  # the rate belongs to the inner optimizer, a Keras one here
        with pytest.raises(ValueError, match=rf"{cls.__name__}'s inner SGD: `learning_rate` must be "
                                             r"a number in \[0, inf\)\. Received: learning_rate="):
            cls(keras.optimizers.SGD(learning_rate=rate))
    else:
        with pytest.raises(ValueError, match=rf"{cls.__name__}: `learning_rate` must be a number in "
                                             r"\[0, inf\)\. Received: learning_rate="):
            cls(learning_rate=rate)


@pytest.mark.parametrize("cls", _registered(), ids=lambda cls: cls.__name__)
def test_accepts_zero_a_float_and_a_schedule(cls):
    schedule = keras.optimizers.schedules.ExponentialDecay(0.1, decay_steps=10, decay_rate=0.5)
    for rate in (0.0, 0.05, schedule):
        if _is_wrapper(cls):
            cls(keras.optimizers.SGD(learning_rate=rate))
        else:
            cls(learning_rate=rate)
