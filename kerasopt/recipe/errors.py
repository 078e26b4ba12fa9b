"""Every way a recipe or a run ends badly, and the exit status the command line gives it.

- :class:`RecipeError` (exit 2): the recipe or its data is invalid; one record per mistake,
  rendered with file, line, key path and hints.
- :class:`RunRefused` (exit 2): the run cannot start as asked; nothing was written.
- :class:`RunFailed` (exit 1): a failure while running whose message says what to do.
- :class:`RunInterrupted` (128 + the signal number): stopped by SIGINT or SIGTERM. A
  `KeyboardInterrupt`, outside :class:`KerasoptError`, so `except Exception` lets it through.

:func:`describe` turns any other failure while running into one line (exit 1).
"""

from __future__ import annotations

import dataclasses
import re
import signal
from collections.abc import Sequence
from typing import Any

from kerasopt.suggestions import did_you_mean as did_you_mean

Path = tuple[str | int, ...]


def format_path(path: Path) -> str:
    """Render a key path the way a recipe reader writes it: `training.callbacks[0].patience`."""
    text = ""
    for part in path:
        if isinstance(part, int):
            text += f"[{part}]"
        else:
            text += ("." if text else "") + part
    return text or "<recipe>"


def short_repr(value: Any, limit: int = 80) -> str:
    """A one-line representation of a received value."""
    text = repr(value)
    return text if len(text) <= limit else text[: limit - 3] + "..."


@dataclasses.dataclass(frozen=True)
class Location:
    """Where a value came from: a file position or a command-line override."""

    source: str
    line: int | None = None
    column: int | None = None

    def __str__(self) -> str:
        if self.line is None:
            return self.source
        return f"{self.source}:{self.line}:{self.column}"


@dataclasses.dataclass(frozen=True)
class Problem:
    """One mistake in a recipe.

    Attributes:
        path: Key path of the offending value.
        message: What is wrong.
        received: The value received, if any (`MISSING` when the key is absent).
        allowed: What is allowed, in words or as a list of choices.
        suggestions: Close matches for a misspelled key or name.
        location: Where the value (or its parent) was written.
    """

    path: Path
    message: str
    received: Any = None
    allowed: str | Sequence[str] | None = None
    suggestions: Sequence[str] = ()
    location: Location | None = None
    has_received: bool = True

    def render(self) -> str:
        """Multi-line, human-readable form."""
        where = f"{self.location}: " if self.location else ""
        lines = [f"{where}{format_path(self.path)}: {self.message}"]
        if self.has_received:
            lines.append(f"    received: {short_repr(self.received)}")
        if self.allowed:
            allowed = self.allowed if isinstance(self.allowed, str) else (
                ", ".join(map(str, self.allowed)) if isinstance(self.allowed, Sequence) else str(self.allowed))
            if len(allowed) > 400:
                allowed = allowed[:397] + "..."
            lines.append(f"    allowed: {allowed}")
        if self.suggestions:
            lines.append(f"    did you mean: {', '.join(self.suggestions)}?")
        return "\n".join(lines)


class KerasoptError(Exception):
    """The base of kerasopt's recipe and run errors; :attr:`exit_code` is the command line's status."""

    exit_code = 1


class RecipeError(KerasoptError):
    """A recipe could not be loaded or is invalid; holds every problem found.

    The command line prints :meth:`render` and exits with status 2.
    """

    exit_code = 2

    def __init__(self, problems: Sequence[Problem], source: str = "recipe") -> None:
        self.problems = list(problems)
        self.source = source
        super().__init__(self.render())

    def render(self) -> str:
        count = len(self.problems)
        head = f"{self.source}: {count} problem{'s' if count != 1 else ''} found"
        return "\n".join([head, *(p.render() for p in self.problems)])


class RunRefused(KerasoptError):
    """The run cannot start in this run directory as asked (exit 2); nothing was written."""

    exit_code = 2


class RunFailed(KerasoptError, RuntimeError):
    """A failure while running whose message already says what to do (exit 1)."""


class RunInterrupted(KeyboardInterrupt):
    """The run was stopped by a signal (SIGINT or SIGTERM).

    A `KeyboardInterrupt`, so `except Exception` blocks in training code let it through.

    Args:
        signum: The signal's number. Defaults to `signal.SIGINT`.
        message: What was kept and how to continue. Defaults to `""`.
    """

    def __init__(self, signum: int = signal.SIGINT, message: str = "") -> None:
        super().__init__(message)
        self.signum = int(signum)
        self.message = message

    @property
    def exit_code(self) -> int:
        """The shell convention: 128 plus the signal number."""
        return 128 + self.signum

    @property
    def signal_name(self) -> str:
        return signal.Signals(self.signum).name


# TensorFlow's op errors append the op's graph location: "[[{{node ...}}]]", "[Op:...]".
_TF_NOISE = re.compile(r"\s*\[\[.*?\]\]|\s*\[Op:[^\]]*\]")


def describe(err: BaseException) -> str:
    """A message for a run-time failure.

    kerasopt's own errors, and plain `ValueError`/`OSError` (argument checks, missing
    files), are shown as they are: their messages are written for the user. Anything
    else is shown as its type and the first line that says what went wrong; TensorFlow's
    graph errors carry a Python stack of the failing op in their message, and only the
    cause, their last line, is kept.

    Example:
        >>> describe(ValueError("`epochs` must be >= 1. Received: epochs=0"))
        '`epochs` must be >= 1. Received: epochs=0'
        >>> describe(RuntimeError("CUDA out of memory\\n  allocator stats..."))
        'RuntimeError: CUDA out of memory'

    The values of a tensor or variable a message embeds are left out (`numpy=...`), and a
    message still longer than :data:`MAX_MESSAGE_CHARS` keeps its beginning and end, saying
    how many characters were cut and that `--debug` shows them.
    """
    message = str(err).strip() or repr(err)
    module = type(err).__module__
    if module.startswith("kerasopt") or isinstance(err, (OSError, ValueError)) and module == "builtins":
        return _bounded(message)
    return _bounded(f"{type(err).__name__}: {_cause(message)}")


MAX_MESSAGE_CHARS = 1000
"""Longest failure message shown whole; `--debug` shows the traceback, message and all."""

# The values in a tf.Variable's or tf.Tensor's repr: "numpy=\narray([[0.1, ...]], dtype=float32)".
_ARRAY_VALUES = re.compile(r"numpy=\s*array\([^()]*\)")


def _bounded(message: str) -> str:
    """`message` without the values of the tensors and variables TensorFlow and Keras embed
    in some of theirs (kilobytes of numbers); still longer than :data:`MAX_MESSAGE_CHARS`,
    its first 600 and last 300 characters (where a resume command sits), saying what was cut."""
    message = _ARRAY_VALUES.sub("numpy=...", message)
    if len(message) <= MAX_MESSAGE_CHARS:
        return message
    head, tail = 600, 300
    return (f"{message[:head].rstrip()} [... {len(message) - head - tail:,} characters cut; --debug "
            f"shows the whole message ...] {message[-tail:].lstrip()}")


def _cause(message: str) -> str:
    lines = [line.strip() for line in message.splitlines() if line.strip()]
    if not lines:
        return message
    if lines[0].startswith("Graph execution error"):
        causes = [c for c in (_TF_NOISE.sub("", line).strip() for line in lines[1:]) if c]
        return causes[-1] if causes else lines[0]
    return lines[0]
