"""The one error type of `kerasopt.data`: a user-facing data problem with a clear message."""

from __future__ import annotations


class DataError(ValueError):
    """A data source, option or file that cannot be used, explained in one message.

    Raised for user mistakes (a missing file, an unknown column or key, images of
    different sizes, a split that cannot be made) and for online sources that need a
    download while the network is unreachable. The message names the option, the value
    received and what is allowed or available, so the recipe runner can print it as is,
    without a traceback. It subclasses `ValueError`, so plain Keras code that already
    catches `ValueError` keeps working.

    Example:
        ```python
        try:
            build_data("csv", {"path": "missing.csv", "target": "label"})
        except DataError as err:
            print(err)  # `path` ... does not exist ...
        ```
    """
