"""`Warmup`: ramp the learning rate up before any other schedule (or a constant)."""

from __future__ import annotations

from typing import Any

import keras
from keras import ops

from kerasopt.registry import register
from kerasopt.schedules._common import (
    DTYPE,
    check_choice,
    check_name,
    check_number,
    float_step,
    fraction,
)

_Schedule = keras.optimizers.schedules.LearningRateSchedule
WARMUP_TYPES = ("linear", "exponential", "polynomial")


def _resolve(schedule: Any) -> _Schedule | float:
    """Turn the `schedule` argument into a schedule object or a float constant."""
    if isinstance(schedule, _Schedule):
        return schedule
    if isinstance(schedule, dict):
        if "class_name" in schedule:
            return keras.optimizers.schedules.deserialize(schedule)
        if "type" in schedule:
            from kerasopt.registry import build

            return build("schedule", schedule)
        raise ValueError(
            "`schedule` given as a dict must be a Keras serialization (with a `class_name` "
            "key, from `keras.optimizers.schedules.serialize`) or a kerasopt recipe spec "
            f"(with a `type` key). Received: schedule={schedule!r}"
        )
    check_number("schedule", schedule, low=0.0)
    return float(schedule)


@register("schedule")
class Warmup(_Schedule):
    """Warm the learning rate up, then follow any wrapped schedule or constant.

    During the first `warmup_steps` optimizer steps the learning rate ramps from
    `initial_learning_rate` to the wrapped schedule's *peak* value; afterwards it is the
    wrapped schedule. This is Model Garden's `LinearWarmup` / `PolynomialWarmUp`
    (`official/modeling/optimization/lr_schedule.py`) for Keras 3, with one documented
    difference in the default:

    - `offset_schedule=True` (default): the wrapped schedule starts *after* the warmup,
      `lr(step) = schedule(step - warmup_steps)` for `step >= warmup_steps`, and the ramp
      ends at `schedule(0)`. A `CosineDecay(0.1, decay_steps=1000)` therefore still peaks
      at 0.1 and still decays over 1000 steps, so training lasts `warmup_steps + 1000`.
    - `offset_schedule=False`: Model Garden's behaviour. The warmup *replaces* the wrapped
      schedule's first `warmup_steps` steps, `lr(step) = schedule(step)` afterwards, and
      the ramp ends at `schedule(warmup_steps)`, so the curve stays continuous.

    Warmup shapes, with `p = step / warmup_steps` and `target` the value above:

    - `"linear"`: `initial + (target - initial) * p` (Goyal et al. 2017, "Accurate, Large
      Minibatch SGD", Section 2.2 "gradual warmup", with `initial = 0` by default).
    - `"polynomial"`: `initial + (target - initial) * p ** power` (Model Garden's
      `PolynomialWarmUp` with `initial = 0`; it clamps step 0 to 1, kerasopt does not, so
      step 0 gives `initial_learning_rate` for every shape).
    - `"exponential"`: geometric interpolation `initial * (target / initial) ** p`, the
      tensor2tensor "exp" warmup; requires `initial_learning_rate > 0`.

    Step 0 is the first optimizer update in Keras (`optimizer.iterations` starts at 0),
    so with the default `initial_learning_rate=0.0` the first update does not move the
    weights. `warmup_steps=0` disables the warmup.

    Args:
        schedule: The schedule to warm up: any `LearningRateSchedule` (Keras's or
            kerasopt's), a non-negative float constant, a Keras serialization dict (as
            `keras.optimizers.schedules.serialize` returns, so configs round-trip) or a
            kerasopt recipe spec dict (`{"type": "cosine_decay", ...}`).
        warmup_steps: Number of warmup steps, an integer >= 0.
        warmup_type: `"linear"`, `"exponential"` or `"polynomial"`. Defaults to `"linear"`.
        initial_learning_rate: Learning rate at step 0. Defaults to `0.0`.
        power: Exponent of the polynomial warmup (only with `warmup_type="polynomial"`).
            Defaults to `1.0`.
        offset_schedule: Whether the wrapped schedule starts counting after the warmup (see
            above). Defaults to `True`.
        name: Name scope of the operations. Defaults to `"Warmup"`.

    Raises:
        ValueError: If an argument is out of range, `power` is set without the polynomial
            shape, or the exponential shape starts from a zero learning rate.

    Example:
        ```python
        decay = keras.optimizers.schedules.CosineDecay(0.1, decay_steps=1000)
        lr = Warmup(decay, warmup_steps=100)
        float(lr(50)), float(lr(100)), float(lr(1100))  # (0.05, 0.1, 0.0)
        optimizer = keras.optimizers.SGD(learning_rate=lr)
        ```
    """

    def __init__(
        self,
        schedule: _Schedule | float | dict[str, Any],
        warmup_steps: int,
        warmup_type: str = "linear",
        initial_learning_rate: float = 0.0,
        power: float = 1.0,
        offset_schedule: bool = True,
        name: str = "Warmup",
    ) -> None:
        super().__init__()
        self._schedule = _resolve(schedule)
        check_number("warmup_steps", warmup_steps, low=0, integer=True)
        check_choice("warmup_type", warmup_type, WARMUP_TYPES)
        check_number("initial_learning_rate", initial_learning_rate, low=0.0)
        check_number("power", power, low=0.0, low_open=True)
        if warmup_type != "polynomial" and power != 1.0:
            raise ValueError(
                "`power` is only used with warmup_type='polynomial'. Received: "
                f"power={power!r} with warmup_type={warmup_type!r}"
            )
        if warmup_type == "exponential" and initial_learning_rate <= 0.0:
            raise ValueError(
                "warmup_type='exponential' interpolates geometrically and needs "
                "`initial_learning_rate` > 0 (for example 0.01 * the peak rate). "
                f"Received: initial_learning_rate={initial_learning_rate!r}"
            )
        if not isinstance(offset_schedule, bool):
            raise ValueError(
                f"`offset_schedule` must be a bool. Received: offset_schedule={offset_schedule!r}"
            )
        check_name(name)
        self.schedule = schedule
        self.warmup_steps = warmup_steps
        self.warmup_type = warmup_type
        self.initial_learning_rate = initial_learning_rate
        self.power = power
        self.offset_schedule = offset_schedule
        self.name = name

    def _wrapped(self, step: Any) -> Any:
        if isinstance(self._schedule, float):
            return ops.convert_to_tensor(self._schedule, dtype=DTYPE)
        return ops.cast(self._schedule(step), DTYPE)

    def __call__(self, step: Any) -> Any:
        """Return the learning rate at `step` as a float32 scalar tensor."""
        with keras.name_scope(self.name):
            step = ops.convert_to_tensor(step)
            if self.warmup_steps == 0:
                return self._wrapped(step)
            if self.offset_schedule:
                after = self._wrapped(ops.maximum(step - self.warmup_steps, 0))
                target = self._wrapped(0)
            else:
                after = self._wrapped(step)
                target = self._wrapped(self.warmup_steps)
            fstep = float_step(step)
            pct = fraction(fstep, 0.0, self.warmup_steps)
            initial = self.initial_learning_rate
            if self.warmup_type == "exponential":
                warm = initial * ops.power(target / initial, pct)
            else:
                warm = initial + (target - initial) * ops.power(pct, float(self.power))
            return ops.where(fstep < self.warmup_steps, warm, after)

    def get_config(self) -> dict[str, Any]:
        """Return the constructor arguments; a wrapped schedule is Keras-serialized."""
        schedule = self.schedule
        if isinstance(self._schedule, _Schedule):
            schedule = keras.optimizers.schedules.serialize(self._schedule)
        return {
            "schedule": schedule,
            "warmup_steps": self.warmup_steps,
            "warmup_type": self.warmup_type,
            "initial_learning_rate": self.initial_learning_rate,
            "power": self.power,
            "offset_schedule": self.offset_schedule,
            "name": self.name,
        }
