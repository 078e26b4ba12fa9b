"""SIGINT and SIGTERM handled by a function of the caller's within a block."""

from __future__ import annotations

import contextlib
import signal
import threading
from collections.abc import Callable, Iterator
from typing import Any

STOP_SIGNALS = (signal.SIGINT, signal.SIGTERM)


@contextlib.contextmanager
def stop_signals_call(handler: Callable[[int, Any], None]) -> Iterator[None]:
    """Within the block, SIGINT and SIGTERM call `handler(signum, frame)` in the main thread.

    The previous handlers come back when the block ends, however it ends. Outside the
    main thread (where Python cannot set handlers) this does nothing.

    Args:
        handler: Called with the signal's number and the interrupted frame.
    """
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    previous = {sig: signal.signal(sig, handler) for sig in STOP_SIGNALS}
    try:
        yield
    finally:
        for sig, old in previous.items():
            signal.signal(sig, old)
