"""Recipe problems: one record per mistake, rendered with file, line, key path and hints."""

from __future__ import annotations

import dataclasses
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


class RecipeError(Exception):
    """A recipe could not be loaded or is invalid; holds every problem found.

    The command line prints :meth:`render` and exits with status 2.
    """

    def __init__(self, problems: Sequence[Problem], source: str = "recipe") -> None:
        self.problems = list(problems)
        self.source = source
        super().__init__(self.render())

    def render(self) -> str:
        count = len(self.problems)
        head = f"{self.source}: {count} problem{'s' if count != 1 else ''} found"
        return "\n".join([head, *(p.render() for p in self.problems)])
