"""One swept recipe value: `uniform(a,b)`, `loguniform(a,b)`, `int(a,b[,log])` or `choice(a,b,...)`."""

from __future__ import annotations

import dataclasses
import math
import re
from typing import Any

import yaml

SYNTAX = ("uniform(LOW,HIGH), loguniform(LOW,HIGH) (LOW > 0), int(LOW,HIGH), int(LOW,HIGH,log) "
          "or choice(A,B,...) (each value read as a YAML scalar)")
_CALL_RE = re.compile(r"^\s*(?P<kind>[A-Za-z_]+)\s*\((?P<args>.*)\)\s*$", re.DOTALL)
_FLOAT_RE = re.compile(r"^[-+]?(\d+\.?\d*|\.\d+)([eE][-+]?\d+)?$")
KINDS = ("uniform", "loguniform", "int", "choice")

LIST_CHOICES_WARNING = "Choices for a categorical distribution should be"
"""Optuna's warning about list choices (`units: choice([8], [32])`) "for persistent storage",
each time it builds or reads back such a distribution. Its storages keep a choice's index and
the choices as JSON, so lists and mappings come back as they were: sweeps ignore it."""


def yaml_scalar(text: str) -> Any:
    """A value as YAML reads it, except that `1e-3` is a number (YAML 1.2), not the string '1e-3'.

    Example:
        >>> yaml_scalar("1e-3"), yaml_scalar("adam"), yaml_scalar("true"), yaml_scalar("4")
        (0.001, 'adam', True, 4)
    """
    value = yaml.safe_load(text) if text.strip() else None
    if isinstance(value, str) and _FLOAT_RE.match(text.strip()):
        return float(value)
    return value


def yaml_text(value: Any) -> str:
    """A scalar written so that :func:`yaml_scalar` (and recipe overrides) read it back unchanged.

    Example:
        >>> yaml_text(1e-05), yaml_text("adam"), yaml_text(None)
        ('1.0e-05', 'adam', 'null')
    """
    if isinstance(value, str) and _FLOAT_RE.match(value.strip()):
        return f"'{value}'"  # a string that reads as a number in YAML 1.2 stays a string
    text = yaml.safe_dump(value, default_flow_style=True).strip()
    return text.removesuffix("...").strip()


@dataclasses.dataclass(frozen=True)
class Distribution:
    """The values a sweep tries for one recipe key, and how Optuna samples them.

    Written on the command line as `KEY=DIST` (`--param training.optimizer.learning_rate=
    loguniform(1e-4,1e-1)`) or in a recipe's `sweep.params`. `int(a,b)` and `uniform(a,b)`
    include both bounds; `log` samples evenly in log space (both bounds must be > 0).

    Args:
        kind: `"uniform"`, `"loguniform"`, `"int"` or `"choice"`.
        low: Lower bound of a numeric distribution. Defaults to `None`.
        high: Upper bound of a numeric distribution. Defaults to `None`.
        log: Sample in log space (`loguniform` and `int(a,b,log)`). Defaults to `False`.
        choices: The values of a `choice`. Defaults to `()`.

    Example:
        >>> Distribution.parse("loguniform(1e-4, 1e-1)")
        Distribution(kind='loguniform', low=0.0001, high=0.1, log=True, choices=())
        >>> Distribution.parse("choice(adam, sgd, 0.5)").choices
        ('adam', 'sgd', 0.5)
    """

    kind: str
    low: float | int | None = None
    high: float | int | None = None
    log: bool = False
    choices: tuple[Any, ...] = ()

    def __post_init__(self) -> None:
        if self.kind not in KINDS:
            raise ValueError(f"`kind` must be one of {', '.join(KINDS)}. Received: kind={self.kind!r}")
        if self.kind == "choice":
            if not self.choices:
                raise ValueError("`choice` needs at least one value. Received: choices=()")
            if len(set(map(repr, self.choices))) != len(self.choices):
                raise ValueError(f"`choice` values must differ. Received: choices={self.choices!r}")
            return
        if self.low is None or self.high is None or not self.low < self.high:
            raise ValueError(f"`low` must be below `high`. Received: low={self.low!r}, high={self.high!r}")
        if self.log and self.low <= 0:
            raise ValueError(f"a log-scale range needs `low` > 0. Received: low={self.low!r}")
        if self.kind == "loguniform" and not self.log:
            raise ValueError("`loguniform` samples in log space. Received: log=False")

    @classmethod
    def parse(cls, text: str) -> Distribution:
        """Read `uniform(a,b)`, `loguniform(a,b)`, `int(a,b)`, `int(a,b,log)` or `choice(a,b,...)`.

        Raises:
            ValueError: With the syntax, when the text is none of these.
        """
        match = _CALL_RE.match(text)
        kind = match["kind"].lower() if match else None
        if match is None or kind not in KINDS:
            raise ValueError(f"not a distribution: {text!r}; expected {SYNTAX}")
        args = [a.strip() for a in match["args"].split(",")] if match["args"].strip() else []
        try:
            if kind == "choice":
                return cls("choice", choices=tuple(yaml_scalar(a) for a in args))
            if kind == "int":
                if len(args) not in (2, 3) or (len(args) == 3 and args[2] != "log"):
                    raise ValueError("`int` takes two whole numbers and an optional `log`")
                low, high = (_number(a, whole=True) for a in args[:2])
                return cls("int", low=low, high=high, log=len(args) == 3)
            if len(args) != 2:
                raise ValueError(f"`{kind}` takes two numbers")
            low, high = (_number(a, whole=False) for a in args)
            return cls(kind, low=low, high=high, log=kind == "loguniform")
        except (ValueError, yaml.YAMLError) as err:
            raise ValueError(f"cannot read {text!r}: {err}; expected {SYNTAX}") from None

    @property
    def grid(self) -> tuple[Any, ...] | None:
        """Every value, for a `choice`; None for a range (a grid needs only choices)."""
        return self.choices if self.kind == "choice" else None

    def corners(self) -> tuple[Any, ...]:
        """The values worth validating before a sweep starts: every choice, or both bounds."""
        return self.choices if self.kind == "choice" else (self.low, self.high)

    def suggest(self, trial: Any, name: str) -> Any:
        """Draw this parameter's value for an Optuna trial."""
        if self.kind == "choice":
            return trial.suggest_categorical(name, list(self.choices))
        if self.kind == "int":
            return trial.suggest_int(name, int(self.low), int(self.high), log=self.log)
        return trial.suggest_float(name, float(self.low), float(self.high), log=self.log)

    def __str__(self) -> str:
        if self.kind == "choice":
            return f"choice({','.join(yaml_text(c) for c in self.choices)})"
        suffix = ",log" if self.kind == "int" and self.log else ""
        return f"{self.kind}({self.low!r},{self.high!r}{suffix})"


def _number(text: str, *, whole: bool) -> float | int:
    value = yaml_scalar(text)
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
        raise ValueError(f"{text!r} is not a finite number")
    if whole:
        if float(value) != int(value):
            raise ValueError(f"{text!r} is not a whole number")
        return int(value)
    return float(value)
