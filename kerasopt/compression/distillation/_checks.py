"""Argument checks, scheduled values and layer lookup shared by the distillation modules.

Private to `kerasopt.compression.distillation`. A *scheduled* argument (temperature,
alpha) is either a number or a `keras.optimizers.schedules.LearningRateSchedule`, i.e. any
Keras or kerasopt schedule, evaluated at the optimizer's step.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

import keras
from keras import ops

from kerasopt.compression.layers import walk
from kerasopt.schedules._common import check_number
from kerasopt.suggestions import did_you_mean

Schedule = keras.optimizers.schedules.LearningRateSchedule


def check_scheduled(name: str, value: Any, *, low: float, low_open: bool,
                    high: float | None = None) -> None:
    """Require a number in the bounds, or a schedule whose value at step 0 is in them.

    Only step 0 of a schedule can be checked here; its later values must stay in the same
    bounds (the docstrings of the classes taking scheduled arguments say so).
    """
    if isinstance(value, Schedule):
        start = float(ops.convert_to_numpy(value(0)))
        try:
            check_number(f"{name}(0)", start, low=low, low_open=low_open, high=high)
        except ValueError as err:
            raise ValueError(f"The `{name}` schedule {type(value).__name__} starts outside the "
                             f"allowed values. {err}") from None
        return
    if callable(value):
        raise ValueError(
            f"`{name}` must be a number or a keras.optimizers.schedules.LearningRateSchedule "
            "(serializable, so recipes and .keras files can name it). Received: "
            f"{name}={value!r} of type {type(value).__module__}.{type(value).__qualname__}")
    check_number(name, value, low=low, low_open=low_open, high=high)


def value_at(value: Any, step: Any) -> Any:
    """The value of a scheduled argument at `step` (a float32 tensor for a schedule)."""
    if isinstance(value, Schedule):
        return ops.cast(value(step), "float32")
    return float(value)


def serialize_scheduled(value: Any) -> Any:
    """A number as is, a schedule as its Keras serialization."""
    if isinstance(value, Schedule):
        return keras.optimizers.schedules.serialize(value)
    return value


def deserialize_scheduled(value: Any) -> Any:
    """The inverse of :func:`serialize_scheduled`."""
    if isinstance(value, dict):
        return keras.optimizers.schedules.deserialize(value)
    return value


def check_layer_name(name: str, value: Any) -> None:
    """Require a non-empty string."""
    if not isinstance(value, str) or not value:
        raise ValueError(f"`{name}` must be a non-empty layer name. Received: {name}={value!r}")


def _suggest(value: str, choices: Iterable[str]) -> str:
    close = did_you_mean(value, choices)
    return f" Did you mean {', '.join(repr(c) for c in close)}?" if close else ""


def find_layer(model: keras.Model, name: str, role: str) -> keras.layers.Layer:
    """The top-level layer of `model` called `name`, or the wrapper of a layer called `name`.

    Layers are found by :func:`kerasopt.compression.layers.walk`, by name or qualified
    name (`backbone/conv`). A pruned or quantization-aware copy of a model renames wrapped
    layers (`prune_low_magnitude_dense`, `quantize_dense`), so the original name finds the
    wrapper. A feature is a layer output the model's own graph computes, so a layer inside
    a nested model is refused (name the nested model's output layer, or the nested model).

    Raises:
        ValueError: Naming the model and role, with close matches and the layer names.
    """
    top = {id(layer) for layer in model.layers}
    walked = walk(model)
    for qualified, layer in walked:
        inner = layer.layer if isinstance(layer, keras.layers.Wrapper) else None
        if name in (layer.name, qualified) or getattr(inner, "name", None) == name:
            if id(layer) not in top:
                raise ValueError(f"`{role}_layer`={name!r} is {qualified!r}, inside a model nested in the "
                                 f"{role} model {model.name!r}; feature distillation reads outputs of its "
                                 "top-level layers (name the nested model itself to read its output).")
            return layer
    for layer in model.layers:  # a nested model named as a whole
        if layer.name == name and not isinstance(layer, keras.layers.InputLayer):
            return layer
    names = [qualified for qualified, _ in walked]
    names += [layer.layer.name for _, layer in walked if isinstance(layer, keras.layers.Wrapper)]
    raise ValueError(f"`{role}_layer`={name!r} is not a layer of the {role} model "
                     f"{model.name!r}.{_suggest(name, names)} Its layers: {', '.join(names)}.")
