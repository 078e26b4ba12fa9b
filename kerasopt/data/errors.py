"""The one error type of `kerasopt.data`: a user-facing data problem with a clear message."""

from __future__ import annotations

from typing import Any


class DataError(ValueError):
    """A data source, option or file that cannot be used, explained in one message.

    Raised for user mistakes (a missing file, an unknown column or key, images of
    different sizes, a split that cannot be made) and for online sources that need a
    download while the network is unreachable. The message names the option, the value
    received and what is allowed or available, so the recipe runner can print it as is,
    without a traceback. It subclasses `ValueError`, so plain Keras code that already
    catches `ValueError` keeps working. When the error comes from a check that
    `kerasopt.data.precheck.check_data` also runs, `problem` holds that check's
    `DataProblem` (the option key, the value received, what is allowed).

    Args:
        message: The whole explanation.
        problem: The structured problem behind the message. Defaults to `None`.

    Example:
        >>> err = DataError("The file given as `path` does not exist. Received: path='x.csv'.")
        >>> isinstance(err, ValueError), err.problem
        (True, None)
    """

    def __init__(self, message: str, problem: Any = None) -> None:
        super().__init__(message)
        self.problem = problem
