"""Type and range of component arguments, checked before anything is built.

Keras's constructors check few of their arguments, and late: `Adam(learning_rate=None)`
fails at the first step, `SGD(learning_rate=-1)` trains uphill. A recipe's component
arguments are therefore checked at validation time from three sources, most specific first:

1. :data:`RULES`, the type and range of well-known arguments (`learning_rate`, `momentum`,
   `beta_1`, `seed`, `units`, `patience`...), as Keras documents or checks them;
2. the type annotation recorded in the signature table (kerasopt's components are
   type-hinted: `warmup_steps: int`, `tol_var: float`);
3. the type of the default value (`nesterov=False` takes true or false).

Everywhere a number is expected it must be finite: no `.inf` or `.nan`.
"""

from __future__ import annotations

import dataclasses
import math
from typing import Any

from kerasopt.recipe.errors import Path, Problem
from kerasopt.recipe.format.fields import DURATION_HELP, is_duration

# Kinds whose specs the runner passes through duration resolution ('2ep' -> steps).
DURATION_KINDS = ("optimizer", "schedule", "callback", "pruning_schedule")
MAX_SEED = 2**32 - 1


@dataclasses.dataclass(frozen=True)
class Rule:
    """What one argument accepts.

    Attributes:
        type: `"int"` (a whole number), `"number"` or `"bool"`.
        low: Smallest allowed value, or None.
        high: Largest allowed value, or None.
        open_low: Whether `low` itself is excluded.
        open_high: Whether `high` itself is excluded.
        nullable: Whether null is accepted (Keras's "None disables it").
        duration: Whether a duration string (`'2ep'`) may give a whole number of steps.
    """

    type: str
    low: float | None = None
    high: float | None = None
    open_low: bool = False
    open_high: bool = False
    nullable: bool = False
    duration: bool = False

    def describe(self) -> str:
        """The rule in words: 'a number in [0, 1)', 'a whole number >= 1 (or null)'."""
        noun = {"int": "a whole number", "number": "a number", "bool": "true or false"}[self.type]
        if self.low is not None and self.high is not None:
            noun += (f" in {'(' if self.open_low else '['}{_num(self.low)}, "
                     f"{_num(self.high)}{')' if self.open_high else ']'}")
        elif self.low is not None:
            noun += f" {'>' if self.open_low else '>='} {_num(self.low)}"
        elif self.high is not None:
            noun += f" {'<' if self.open_high else '<='} {_num(self.high)}"
        return noun + (" (or null)" if self.nullable else "")

    def admits(self, value: float) -> bool:
        """Whether a number lies in the rule's range."""
        if self.low is not None and (value < self.low or (self.open_low and value == self.low)):
            return False
        return not (self.high is not None and (value > self.high or (self.open_high and value == self.high)))


def _num(value: float) -> str:
    return str(int(value)) if float(value).is_integer() else str(value)


_RATE = Rule("number", 0.0)
_UNIT_INTERVAL = Rule("number", 0.0, 1.0)
_BETA = Rule("number", 0.0, 1.0, open_high=True)
_CLIP = Rule("number", 0.0, open_low=True, nullable=True)
_COUNT = Rule("int", 1.0)
_WAIT = Rule("int", 0.0)  # epochs to wait: a duration in steps would mean something else
_STEPS = Rule("int", 1.0, duration=True)

RULES: dict[tuple[str | None, str], Rule] = {
    # Optimizers (keras.optimizers.Optimizer's shared arguments and the common hyperparameters).
    ("optimizer", "learning_rate"): _RATE,
    ("optimizer", "momentum"): _UNIT_INTERVAL,
    ("optimizer", "beta_1"): _BETA,
    ("optimizer", "beta_2"): _BETA,
    ("optimizer", "rho"): _UNIT_INTERVAL,
    ("optimizer", "epsilon"): Rule("number", 0.0),
    ("optimizer", "weight_decay"): Rule("number", 0.0, nullable=True),
    ("optimizer", "clipnorm"): _CLIP,
    ("optimizer", "clipvalue"): _CLIP,
    ("optimizer", "global_clipnorm"): _CLIP,
    ("optimizer", "ema_momentum"): _UNIT_INTERVAL,
    ("optimizer", "ema_overwrite_frequency"): Rule("int", 1.0, nullable=True),
    ("optimizer", "gradient_accumulation_steps"): Rule("int", 2.0, nullable=True),
    ("optimizer", "loss_scale_factor"): Rule("number", 0.0, open_low=True, nullable=True),
    # Learning-rate schedules and callbacks that set rates.
    ("schedule", "initial_learning_rate"): _RATE,
    ("schedule", "end_learning_rate"): _RATE,
    ("schedule", "decay_steps"): _STEPS,
    ("schedule", "first_decay_steps"): _STEPS,
    ("schedule", "warmup_steps"): Rule("int", 0.0, duration=True),
    ("callback", "min_lr"): _RATE,
    ("callback", "patience"): _WAIT,
    ("callback", "cooldown"): _WAIT,
    ("callback", "start_from_epoch"): _WAIT,
    # Pruning schedules (tfmot's parameters): sparsities in [0, 1), steps of the pruning stage.
    ("pruning_schedule", "initial_sparsity"): _BETA,
    ("pruning_schedule", "final_sparsity"): _BETA,
    ("pruning_schedule", "target_sparsity"): _BETA,
    ("pruning_schedule", "begin_step"): Rule("int", 0.0, duration=True),
    ("pruning_schedule", "end_step"): Rule("int", -1.0, duration=True),
    ("pruning_schedule", "frequency"): _STEPS,
    ("pruning_schedule", "power"): Rule("number", 0.0, open_low=True),
    # Layers.
    ("layer", "units"): _COUNT,
    ("layer", "filters"): _COUNT,
    ("layer", "rate"): _UNIT_INTERVAL,
    ("layer", "dropout"): _UNIT_INTERVAL,
    ("layer", "recurrent_dropout"): _UNIT_INTERVAL,
    ("layer", "epsilon"): Rule("number", 0.0, open_low=True),
    ("layer", "momentum"): _UNIT_INTERVAL,
    # Regularizers.
    ("regularizer", "l1"): _RATE,
    ("regularizer", "l2"): _RATE,
    # Every kind: random seeds are what keras.utils.set_random_seed and NumPy accept.
    (None, "seed"): Rule("int", 0.0, float(MAX_SEED), nullable=True),
}


def rule_for(kind: str, argument: str) -> Rule | None:
    """The rule of an argument of a component kind, if one is known."""
    return RULES.get((kind, argument)) or RULES.get((None, argument))


def check_value(kind: str, param: dict[str, Any], value: Any, where: Path, *,
                holds_component: bool) -> list[Problem]:
    """Problems with one argument value (its type, range, finiteness and null).

    Args:
        kind: The component kind the argument belongs to.
        param: The argument's table entry (`name`, `required`, `default`, optional `type`).
        value: The value in the recipe.
        where: Its key path.
        holds_component: Whether the argument names a component (`activation`,
            `kernel_initializer`...), whose null means "none" to Keras.
    """
    name, default = param["name"], param.get("default")
    rule = rule_for(kind, name)
    expected = _expected(rule, param.get("type"), default)
    if value is None:
        nullable = (rule.nullable if rule else not param["required"] and default is None) \
            or "null" in (param.get("type") or ()) or holds_component
        if nullable or expected is None:
            return []
        hint = "" if param["required"] else f" (leave the key out for the default, {default!r})"
        return [Problem(where, "null is not allowed here", received=None,
                        allowed=_words(expected, rule) + hint)]
    if isinstance(value, float) and not math.isfinite(value):
        return [Problem(where, "must be a finite number", received=value,
                        allowed=_words(expected, rule) if expected else "a finite number")]
    if expected is None:
        return []
    durations = kind in DURATION_KINDS and (rule.duration if rule else True)
    if _matches(expected, value, durations):
        if rule is not None and _is_number(value) and not rule.admits(value):
            return [Problem(where, "out of range", received=value, allowed=rule.describe())]
        return []
    return [Problem(where, f"expected {_words(expected, rule, short=True)}", received=value,
                    allowed=_words(expected, rule, durations=durations))]


def _expected(rule: Rule | None, annotated: list[str] | None, default: Any) -> set[str] | None:
    """The set of accepted value types (`int`, `number`, `bool`, `str`), or None if unknown."""
    if rule is not None:
        return {rule.type}
    if annotated:
        kinds = {{"float": "number"}.get(t, t) for t in annotated if t != "null"}
        return kinds or None
    if isinstance(default, bool):
        return {"bool"}
    if isinstance(default, float) or isinstance(default, int) and not isinstance(default, bool):
        return {"number"}  # an int default does not make a float wrong (`min_delta=0`)
    if isinstance(default, str) and not default.startswith("<"):
        return {"str"}
    return None


def _is_number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def _matches(expected: set[str], value: Any, durations: bool) -> bool:
    if "bool" in expected and isinstance(value, bool):
        return True
    if "int" in expected and isinstance(value, int) and not isinstance(value, bool):
        return True
    if expected & {"int", "number"} and durations and is_duration(value):
        return True
    if "number" in expected and _is_number(value):
        return True
    return "str" in expected and isinstance(value, (str, dict))


def _words(expected: set[str], rule: Rule | None, *, short: bool = False, durations: bool = False) -> str:
    if rule is not None and not short:
        text = rule.describe()
    else:
        words = {"int": "a whole number", "number": "a number", "bool": "true or false", "str": "a string"}
        text = " or ".join(words[t] for t in sorted(expected))
    if "int" in expected and durations and not short:
        text += f"; or a duration: {DURATION_HELP.split(', or ', 1)[-1]}"
    return text
