"""The error raised for a model spec that cannot be built."""

from __future__ import annotations


class ModelError(ValueError):
    """A model spec that kerasopt cannot build.

    Raised by :func:`kerasopt.models.build.build_model` and its helpers for an
    unknown architecture or option, an option value outside what is allowed, an
    input shape that does not fit the architecture (a `cnn` on a flat vector), an
    unknown layer name, a missing `.keras` file or a request to download weights.
    The message names the option (as `model.<key>`), the value received and what is
    allowed, so the recipe runner can show it as is.

    It subclasses `ValueError`, so code that catches Keras's own argument errors
    catches it too.

    Example:
        ```python
        try:
            build_model({"architecture": "cnn"}, input_shape=(40,), num_classes=10)
        except ModelError as err:
            print(err)  # names model.architecture, the shape, and how to fix it
        ```
    """
