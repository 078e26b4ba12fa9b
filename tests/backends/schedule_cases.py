"""Schedule cases of the backend conformance run: values at steps 0..N, eager and compiled.

Each schedule is called with a Python int (eager) and inside the backend's compiler
(`jax.jit` under JAX, `tf.function` under TensorFlow) with an int32 tensor step, as an
optimizer calls it. Several configurations per class cover its modes.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import keras
import numpy as np

STEPS = list(range(25))


def compiled(fn: Callable[[Any], Any]) -> Callable[[Any], Any]:
    """`fn` compiled by the active backend (traced once for all steps)."""
    if keras.backend.backend() == "jax":
        import jax

        return jax.jit(fn)
    import tensorflow as tf

    return tf.function(fn)


def _values(make: Callable[[], Any]) -> list[float]:
    schedule = make()
    eager = [float(schedule(step)) for step in STEPS]
    fn = compiled(lambda step: schedule(step))
    jitted = [float(fn(keras.ops.convert_to_tensor(step, "int32"))) for step in STEPS]
    return eager + jitted


def schedule_case(*makers: Callable[[], Any]) -> Callable[[], list[float]]:
    def case() -> list[float]:
        return [value for make in makers for value in _values(make)]

    return case


def _pruning_values(make: Callable[[], Any]) -> list[float]:
    schedule = make()
    eager = [float(v) for step in STEPS for v in schedule(step)]
    fn = compiled(lambda step: schedule(step))
    jitted = [float(np.asarray(v)) for step in STEPS
              for v in fn(keras.ops.convert_to_tensor(step, "int32"))]
    return eager + jitted


def pruning_case(*makers: Callable[[], Any]) -> Callable[[], list[float]]:
    def case() -> list[float]:
        return [value for make in makers for value in _pruning_values(make)]

    return case


def _schedules() -> Any:
    from kerasopt import schedules

    return schedules


def _pruning() -> Any:
    from kerasopt.compression import pruning

    return pruning


SCHEDULE_CASES: dict[str, Callable[[], list[float]]] = {
    "Cyclical": schedule_case(
        lambda: _schedules().Cyclical(0.01, 0.1, step_size=4),
        lambda: _schedules().Cyclical(0.01, 0.1, step_size=3, mode="triangular2"),
        lambda: _schedules().Cyclical(0.01, 0.1, step_size=4, mode="exp_range", gamma=0.9),
    ),
    "InverseSqrt": schedule_case(lambda: _schedules().InverseSqrt(0.1, warmup_steps=5)),
    "OneCycle": schedule_case(
        lambda: _schedules().OneCycle(0.1, total_steps=20),
        lambda: _schedules().OneCycle(0.1, total_steps=20, anneal="linear", three_phase=True),
    ),
    "PolynomialWithOffset": schedule_case(
        lambda: _schedules().PolynomialWithOffset(0.1, 10, end_learning_rate=0.01, power=2.0,
                                                  offset=3),
        lambda: _schedules().PolynomialWithOffset(0.1, 6, end_learning_rate=0.01, cycle=True),
    ),
    "Power": schedule_case(
        lambda: _schedules().Power(0.1, power=-0.5, offset=2),
        lambda: _schedules().Power(0.1, power=-0.5, total_decay_steps=20, linear_decay_fraction=0.3),
    ),
    "Warmup": schedule_case(
        lambda: _schedules().Warmup(keras.optimizers.schedules.CosineDecay(0.1, 20), warmup_steps=5),
        lambda: _schedules().Warmup(0.1, warmup_steps=6, warmup_type="exponential",
                                    initial_learning_rate=0.001),
        lambda: _schedules().Warmup(_schedules().InverseSqrt(0.1, 4), warmup_steps=4,
                                    warmup_type="polynomial", power=2.0, offset_schedule=False),
    ),
    "WarmupStableDecay": schedule_case(
        lambda: _schedules().WarmupStableDecay(0.1, 3, 5, 8),
        lambda: _schedules().WarmupStableDecay(0.1, 3, 5, 8, decay_type="cosine",
                                               final_learning_rate=0.01),
        lambda: _schedules().WarmupStableDecay(0.1, 2, 4, 10, decay_type="sqrt",
                                               initial_learning_rate=0.01),
    ),
}

PRUNING_SCHEDULE_CASES: dict[str, Callable[[], list[float]]] = {
    "ConstantSparsity": pruning_case(
        lambda: _pruning().ConstantSparsity(0.5, begin_step=2, end_step=20, frequency=3)),
    "PolynomialDecay": pruning_case(
        lambda: _pruning().PolynomialDecay(0.1, 0.8, begin_step=2, end_step=20, frequency=2)),
}
