"""One clear line for a failure while running a recipe (the CLI's exit status 1)."""

from __future__ import annotations

import re

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
    """
    message = str(err).strip() or repr(err)
    module = type(err).__module__
    if module.startswith("kerasopt") or isinstance(err, (OSError, ValueError)) and module == "builtins":
        return message
    return f"{type(err).__name__}: {_cause(message)}"


def _cause(message: str) -> str:
    lines = [line.strip() for line in message.splitlines() if line.strip()]
    if not lines:
        return message
    if lines[0].startswith("Graph execution error"):
        causes = [c for c in (_TF_NOISE.sub("", line).strip() for line in lines[1:]) if c]
        return causes[-1] if causes else lines[0]
    return lines[0]
