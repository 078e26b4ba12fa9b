"""Private helpers shared by kerasopt's first-order optimizers.

Not public API. Holds what would otherwise be copied between optimizers:

- argument validation with messages that name the argument, the received value and
  what is allowed;
- `AdaptiveOptimizer`, a `keras.optimizers.Optimizer` base whose `get_config` returns
  the constructor arguments exactly as given, which merges duplicate rows of sparse
  gradients before anything else reads them (`_sparse.py`), and which can move
  `weight_decay` from Keras's decoupled pre-step decay into the optimizer's own update
  rule, with a schedule of the step where the optimizer allows one;
- the docstring blocks shared by these optimizers, inserted where a class docstring
  holds `{{base_optimizer_keyword_args}}` or `{{sparse_gradients}}`;
- `one_minus_power`, an accurate float32 bias correction 1 - beta^t;
- `step_scalar`, the step count and per-step scalars computed in float32 whatever the
  variable dtype (float16 powers of `beta_2` lose the bias correction).
"""

from __future__ import annotations

import inspect
import math
import numbers
import textwrap
from collections.abc import Sequence
from typing import Any

import keras
from keras import ops

from kerasopt._keras_compat import (
    ReplicaClipHook,
    WeightDecayHook,
    iterations_variable,
    uses_weight_decay,
)
from kerasopt._replicas import refuse_accumulation_under_replicas
from kerasopt.optimizers._sparse import prepare_gradients

# ---------------------------------------------------------------------------
# Validation
# ---------------------------------------------------------------------------


def _interval(low: float | None, high: float | None, low_open: bool, high_open: bool) -> str:
    left = "(" if low_open or low is None else "["
    right = ")" if high_open or high is None else "]"
    low_text = "-inf" if low is None else f"{low:g}"
    high_text = "inf" if high is None else f"{high:g}"
    return f"{left}{low_text}, {high_text}{right}"


def check_float(
    name: str,
    value: Any,
    *,
    low: float | None = None,
    high: float | None = None,
    low_open: bool = False,
    high_open: bool = False,
    allow_none: bool = False,
) -> None:
    """Raise ValueError unless `value` is a real number in the given interval."""
    if value is None and allow_none:
        return
    allowed = f"a number in {_interval(low, high, low_open, high_open)}"
    if allow_none:
        allowed += " or None"
    ok = isinstance(value, numbers.Real) and not isinstance(value, bool)
    if ok:
        number = float(value)
        ok = math.isfinite(number)
        if ok and low is not None:
            ok = number > low if low_open else number >= low
        if ok and high is not None:
            ok = number < high if high_open else number <= high
    if not ok:
        raise ValueError(f"`{name}` must be {allowed}. Received: {name}={value!r}")


def check_learning_rate(value: Any, owner: str) -> None:
    """Raise ValueError for a learning rate given as a number that is negative or not finite.

    Keras's optimizers accept `learning_rate=-1.0` and train uphill. A schedule, a callable
    or a variable is left to Keras.

    Args:
        value: The `learning_rate` argument as given.
        owner: The optimizer's class name, for the message.
    """
    if isinstance(value, numbers.Real) and not isinstance(value, bool):
        try:
            check_float("learning_rate", value, low=0.0)
        except ValueError as err:
            raise ValueError(f"{owner}: {err}") from None


def check_int(name: str, value: Any, *, low: int) -> None:
    """Raise ValueError unless `value` is an integer >= `low`."""
    if not isinstance(value, numbers.Integral) or isinstance(value, bool) or value < low:
        raise ValueError(f"`{name}` must be an integer >= {low}. Received: {name}={value!r}")


def check_bool(name: str, value: Any) -> None:
    """Raise ValueError unless `value` is a bool."""
    if not isinstance(value, bool):
        raise ValueError(f"`{name}` must be True or False. Received: {name}={value!r}")


def check_choice(name: str, value: Any, choices: Sequence[str]) -> None:
    """Raise ValueError unless `value` is one of `choices`."""
    if value not in choices:
        allowed = ", ".join(repr(c) for c in choices)
        raise ValueError(f"`{name}` must be one of {allowed}. Received: {name}={value!r}")


def is_weight_decay_schedule(value: Any) -> bool:
    """Whether a `weight_decay` value is a schedule (rather than a number or None)."""
    return value is not None and not isinstance(value, numbers.Real) and callable(value)


def check_weight_decay(value: Any, allow_schedule: bool = False) -> None:
    """Raise ValueError unless `weight_decay` is None, a number >= 0 or (if allowed) a schedule.

    A schedule is a `keras.optimizers.schedules.LearningRateSchedule` or any callable taking
    the step as its one positional argument.
    """
    if not (allow_schedule and is_weight_decay_schedule(value)):
        if allow_schedule and not isinstance(value, numbers.Real) and value is not None:
            raise ValueError(
                "`weight_decay` must be None, a number >= 0, a "
                "keras.optimizers.schedules.LearningRateSchedule, or a callable of the step "
                f"(e.g. `lambda step: 1e-4 * 0.5 ** (step / 1000)`). Received: "
                f"weight_decay={value!r}"
            )
        check_float("weight_decay", value, low=0.0, allow_none=True)
        return
    if isinstance(value, keras.optimizers.schedules.LearningRateSchedule):
        return
    try:
        inspect.signature(value).bind(0)
    except TypeError as err:
        raise ValueError(
            "A callable `weight_decay` must take the step as its one argument, as a "
            "LearningRateSchedule does (`lambda step: ...`); a callable without arguments "
            f"is not a schedule of the step ({err}). Received: weight_decay={value!r}"
        ) from err
    except ValueError:
        return  # a builtin without an introspectable signature: trust it


# ---------------------------------------------------------------------------
# Base class
# ---------------------------------------------------------------------------


def step_scalar(value: Any) -> Any:
    """Cast a per-step scalar (step count, beta, learning rate) to float32."""
    return ops.cast(value, "float32")


def one_minus_power(beta: float, step: Any) -> Any:
    """1 - beta^step in float32, accurate to a few ulps even when beta^step is close to 1.

    Computed as -expm1(step * log1p(-(1 - beta))) with 1 - beta taken in float64 first:
    `1 - ops.power(float32(beta), step)` loses about five digits for beta = 0.999 in the
    first steps (float32(0.999) is off by 1.3e-8, and the subtraction cancels), which
    moves RAdam's rho_t by about 0.03 and its rectification term by about 1%.
    """
    log_beta = ops.log1p(step_scalar(-(1.0 - float(beta))))
    return -ops.expm1(step * log_beta)


class AdaptiveOptimizer(ReplicaClipHook, WeightDecayHook, keras.optimizers.Optimizer):
    """Base of kerasopt's first-order optimizers.

    Subclasses list their own constructor arguments in `_config_keys` (stored as
    attributes of the same name) and call `_remember(learning_rate)` after
    `super().__init__`. Subclasses whose update rule contains the weight decay term
    (RAdam, NovoGrad, LARS...) set `decay_in_update_rule = True`; Keras's decoupled
    decay before the step is then skipped and `_decay_rate(variable)` gives the rate to
    use (None when the variable is excluded with `exclude_from_weight_decay`), the
    value of a weight-decay schedule at the current step if `weight_decay` is one.

    Sparse gradients (`tf.IndexedSlices`) are made dense in `apply`, before clipping,
    so every update (and clipping norm) sees the dense gradient, duplicate rows summed;
    a subclass that updates only the rows present sets `lazy_sparse_updates = True` and
    gets the slices with each row once instead.

    Under a distribution strategy, `clipnorm`, `clipvalue` and `global_clipnorm` clip the
    gradient of the global batch, as on one device (`ReplicaClipHook`; Keras's own
    optimizers clip each replica's share); `gradient_accumulation_steps` is refused there
    (Keras 3 cannot sum accumulated gradients over replicas).
    """

    _config_keys: tuple[str, ...] = ()
    lazy_sparse_updates: bool = False

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        if cls.__doc__:
            cls.__doc__ = insert_docstring_blocks(cls.__doc__)

    def _remember(self, learning_rate: Any) -> None:
        check_learning_rate(learning_rate, type(self).__name__)
        self._given_learning_rate = learning_rate

    def apply(self, grads: Any, trainable_variables: Any = None) -> Any:
        """Apply gradients as Keras does, after merging duplicate rows of sparse ones.

        Raises:
            ValueError: With `gradient_accumulation_steps` under a strategy with several
                replicas (Keras 3 cannot sum accumulated gradients over replicas).
        """
        refuse_accumulation_under_replicas(self)
        return super().apply(prepare_gradients(grads, self.lazy_sparse_updates),
                             trainable_variables)

    def _decay_rate(self, variable: Any) -> Any:
        decay = self.weight_decay
        if not decay or not uses_weight_decay(self, variable):
            return None
        if is_weight_decay_schedule(decay):
            # Evaluated at the step a learning-rate schedule sees (0 at the first update).
            return ops.cast(decay(iterations_variable(self)), "float32")
        return decay

    def _step(self) -> Any:
        """The 1-based step count t of the update being computed, in float32."""
        return step_scalar(self.iterations + 1)

    def get_config(self) -> dict[str, Any]:
        """Return the base Keras config plus this optimizer's own arguments, as given."""
        config = super().get_config()
        given = getattr(self, "_given_learning_rate", None)
        current = config.get("learning_rate")
        # A float learning rate lives in a float32 variable; report the value the user
        # gave unless something (a callback) has changed the variable since.
        if isinstance(given, float) and isinstance(current, float):
            if float(ops.convert_to_numpy(ops.cast(given, "float32"))) == current:
                config["learning_rate"] = given
        if is_weight_decay_schedule(self.weight_decay):
            config["weight_decay"] = keras.saving.serialize_keras_object(self.weight_decay)
        config.update({key: getattr(self, key) for key in self._config_keys})
        return config

    @classmethod
    def from_config(cls, config: dict[str, Any], custom_objects: Any = None) -> Any:
        """Rebuild the optimizer from `get_config`, deserializing a weight-decay schedule."""
        config = dict(config)
        if isinstance(config.get("weight_decay"), dict):
            config["weight_decay"] = keras.saving.deserialize_keras_object(
                config["weight_decay"], custom_objects=custom_objects
            )
        return super().from_config(config, custom_objects=custom_objects)


# ---------------------------------------------------------------------------
# Shared docstring blocks
# ---------------------------------------------------------------------------

DOCSTRING_BLOCKS: dict[str, str] = {
    "base_optimizer_keyword_args": """\
clipnorm: Clip each gradient to this norm. Defaults to `None`.
clipvalue: Clip each gradient to this absolute value. Defaults to `None`.
global_clipnorm: Clip all gradients to this global norm. Defaults to `None`.
use_ema: Whether to keep an exponential moving average of the weights.
    Defaults to `False`.
ema_momentum: Momentum of that moving average. Defaults to `0.99`.
ema_overwrite_frequency: Steps between overwriting the weights with their
    average, or None. Defaults to `None`.
loss_scale_factor: Factor the loss is multiplied by before gradients are
    computed (and gradients divided by after). Defaults to `None`.
gradient_accumulation_steps: Steps whose gradients are averaged before one
    update, or None. Defaults to `None`.
name: Name of the optimizer. Defaults to `None` (an automatic name).
**kwargs: Further arguments of `keras.optimizers.Optimizer`.""",
    "sparse_gradients": """\
Sparse gradients (`tf.IndexedSlices`, from `Embedding` lookups on the TensorFlow
backend) are turned into the dense gradient they stand for before clipping and the
update, the rows of a repeated index summed, so the update is exactly the dense one. In
it a row the batch did not touch has a zero gradient but is still updated: its moments
decay, momentum keeps moving it, and weight decay (in the update rule or Keras's
decoupled one) shrinks it, as Keras's own optimizers (`AdamW`...) decay every row. For
updates of the touched rows only, see `LazyAdam`.""",
}
"""Text shared by several optimizer docstrings, keyed by placeholder name."""


def insert_docstring_blocks(doc: str) -> str:
    """Replace each `{{name}}` line of a docstring with `DOCSTRING_BLOCKS[name]`, indented alike."""
    lines = []
    for line in doc.split("\n"):
        stripped = line.strip()
        key = stripped[2:-2] if stripped.startswith("{{") and stripped.endswith("}}") else None
        if key in DOCSTRING_BLOCKS:
            indent = line[: len(line) - len(line.lstrip())]
            lines.append(textwrap.indent(DOCSTRING_BLOCKS[key], indent))
        else:
            lines.append(line)
    return "\n".join(lines)
