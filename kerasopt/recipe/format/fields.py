"""Building blocks of the recipe schema: strict models, component slots and durations."""

from __future__ import annotations

import dataclasses
import math
import re
from typing import Annotated, Any

from pydantic import BaseModel, BeforeValidator, ConfigDict, Field, Strict, WithJsonSchema

# A yes/no field takes YAML's true/false only: lax pydantic reads the strings "yes", "off", "0"
# and the numbers 0/1 as booleans without a word, so a quoted or mistyped value became a guess.
Flag = Annotated[bool, Strict()]


class StrictModel(BaseModel):
    """A recipe section: unknown keys are errors, values are validated, nothing is coerced silently."""

    model_config = ConfigDict(extra="forbid", strict=False, validate_default=True,
                              populate_by_name=True, allow_inf_nan=False)


@dataclasses.dataclass(frozen=True)
class ComponentKind:
    """Marks a field that holds a registered component of this kind (checked against the registry)."""

    kind: str


@dataclasses.dataclass(frozen=True)
class LayerTypeName:
    """Marks a field that holds a layer class name (`layer_types:`), checked against the registry's table."""


MISSING_TYPE = "a component needs a `type` key naming it"
"""The start of the message for a component spec without `type` (validation adds a did-you-mean)."""


def _component_spec(value: Any) -> Any:
    if isinstance(value, str):
        return {"type": value}
    if isinstance(value, dict):
        if "type" not in value:
            raise ValueError(f"{MISSING_TYPE}, e.g. {{type: adam, learning_rate: 0.01}}")
        if not isinstance(value["type"], str):
            raise ValueError(f"`type` must be a component name (a string), got {value['type']!r}")
        return dict(value)
    raise ValueError(f"expected a component name or a mapping with `type`, got {type(value).__name__}")


_COMPONENT_JSON = {
    "anyOf": [
        {"type": "string", "description": "a registered component name"},
        {"type": "object", "required": ["type"],
         "properties": {"type": {"type": "string"}}, "additionalProperties": True},
    ]
}


def component(kind: str) -> Any:
    """The annotation of a field that holds one component of `kind`: a name or `{type: ..., args}`."""
    return Annotated[
        dict[str, Any],
        BeforeValidator(_component_spec),
        ComponentKind(kind),
        WithJsonSchema({**_COMPONENT_JSON, "description": f"a registered {kind}"}),
    ]


DURATION_RE = re.compile(r"^(?P<value>\d+(\.\d*)?|\.\d+)(?P<unit>ep|ba|dur)$")
DURATION_HELP = ("a whole number of steps, or a string with a unit: '8ep' (epochs), "
                 "'500ba' (batches/steps), '0.1dur' (a fraction of the whole training)")


def _duration(value: Any) -> Any:
    if isinstance(value, bool):
        raise ValueError(f"expected {DURATION_HELP}")
    if isinstance(value, int):
        if value < 0:
            raise ValueError("a duration must be >= 0")
        return value
    if isinstance(value, str) and DURATION_RE.match(value.strip()):
        return value.strip()
    raise ValueError(f"expected {DURATION_HELP}")


Duration = Annotated[
    int | str,
    BeforeValidator(_duration),
    WithJsonSchema({"anyOf": [{"type": "integer", "minimum": 0},
                              {"type": "string", "pattern": DURATION_RE.pattern}],
                    "description": DURATION_HELP}),
]


def is_duration(value: Any) -> bool:
    """True for a duration string such as `'8ep'`, `'500ba'` or `'0.1dur'`."""
    return isinstance(value, str) and DURATION_RE.match(value.strip()) is not None


def to_steps(value: int | str, *, steps_per_epoch: int, total_steps: int) -> int:
    """Convert a duration to optimizer steps once the data's steps per epoch are known.

    Args:
        value: Steps as an int, or `'8ep'`, `'500ba'`, `'0.1dur'`.
        steps_per_epoch: Batches in one epoch of the training data.
        total_steps: Steps of the whole training (the stage), for `dur`.

    Returns:
        The number of steps, rounded to the nearest whole step.

    Example:
        >>> to_steps("2ep", steps_per_epoch=40, total_steps=400)
        80
        >>> to_steps("0.25dur", steps_per_epoch=40, total_steps=400)
        100
    """
    if isinstance(value, int):
        return value
    match = DURATION_RE.match(value.strip())
    if match is None:
        raise ValueError(f"Invalid duration {value!r}: expected {DURATION_HELP}.")
    number = float(match["value"])
    scale = {"ep": steps_per_epoch, "ba": 1, "dur": total_steps}[match["unit"]]
    return int(math.floor(number * scale + 0.5))


MAX_COUNT = 10**9
"""Upper bound of counts (epochs, steps, batch sizes): larger values are typos, not plans."""


def _whole_number(value: Any) -> Any:
    """Accept `1e5` (a float with no fractional part) for a count; refuse `2.5`, `'3'` and `true`."""
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise ValueError("expected a whole number")
    if isinstance(value, float):
        if not math.isfinite(value) or not value.is_integer():
            raise ValueError("expected a whole number")
        return int(value)
    return value


PositiveInt = Annotated[
    int, BeforeValidator(_whole_number), Field(ge=1, le=MAX_COUNT),
    WithJsonSchema({"type": "integer", "minimum": 1, "maximum": MAX_COUNT}),
]
Fraction = Annotated[float, Field(ge=0.0, lt=1.0)]
