"""SIGINT and SIGTERM as :class:`~kerasopt.recipe.errors.RunInterrupted`, at the next batch boundary."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator

from kerasopt._signals import stop_signals_call
from kerasopt.recipe.errors import RunInterrupted


@contextlib.contextmanager
def interrupt_on_signals() -> Iterator[None]:
    """Within the block, SIGINT and SIGTERM raise :class:`RunInterrupted` in the main thread.

    Python runs the handler between bytecodes, so inside `fit` the exception arrives at
    the next batch boundary; files being written are left as they were before (every
    write is atomic). The previous handlers come back afterwards. Outside the main
    thread (where handlers cannot be set) this does nothing.
    """

    def handler(signum: int, frame: object) -> None:
        raise RunInterrupted(signum)

    with stop_signals_call(handler):
        yield
