"""How a run ends early: refused before it starts, failed, or stopped by a signal.

`kerasopt run` maps these to its exit codes: :class:`RunRefused` is 2 (like an invalid
recipe: nothing was written), :class:`RunFailed` is 1, :class:`RunInterrupted` is 128 plus
the signal number (130 for Ctrl-C, 143 for SIGTERM).
"""

from __future__ import annotations

import contextlib
import signal
from collections.abc import Iterator

from kerasopt._signals import stop_signals_call


class RunRefused(Exception):
    """The run cannot start in this run directory as asked (exit 2); nothing was written."""


class RunFailed(RuntimeError):
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
