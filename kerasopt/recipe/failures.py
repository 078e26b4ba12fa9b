"""One clear line for a failure while running a recipe (the CLI's exit status 1)."""

from __future__ import annotations


def describe(err: BaseException) -> str:
    """A message for a run-time failure: kerasopt's own errors as they are, others with their type."""
    message = str(err).strip() or repr(err)
    module = type(err).__module__
    if module.startswith("kerasopt") or isinstance(err, (OSError, ValueError)) and module == "builtins":
        return message
    return f"{type(err).__name__}: {message}"
