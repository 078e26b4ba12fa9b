"""The `application` architecture: a `keras.applications` backbone with a new head."""

from __future__ import annotations

import inspect
from pathlib import Path
from typing import Any

import keras

from kerasopt.models.errors import ModelError

OPTIONS: dict[str, Any] = {"name": None, "weights": None, "include_top": False}
"""The options of `architecture: application` (`name` is required)."""


def application_names() -> list[str]:
    """Return the model constructors of `keras.applications` (`MobileNetV2`, `ResNet50`, ...)."""
    return sorted(name for name in dir(keras.applications)
                  if name[:1].isupper() and inspect.isfunction(getattr(keras.applications, name)))


def application_features(x: Any, options: dict[str, Any], input_shape: tuple[int, ...]) -> Any:
    """Apply a `keras.applications` backbone without its top, globally average-pooled.

    The backbone is built with `include_top=False`, `pooling="avg"` and the data's
    `input_shape`, and is called as one nested layer (its name is the application's,
    e.g. `mobilenetv2_1.00_32`; `freeze` patterns reach its inner layers too). kerasopt
    never downloads: `weights` is `None` (random initialization) or the path of a local
    `.h5`/`.weights.h5` file (`save_weights`) or `.keras` file (`save`) of the same
    application without its top; `imagenet` (a download) is refused. The
    application's own preprocessing (e.g. scaling to [-1, 1] for MobileNetV2) is not
    applied; use the data normalizer or a preprocessing layer.

    Args:
        x: The input tensor (after the optional normalizer).
        options: The resolved options: `name` (a `keras.applications` model), `weights`
            (None or a local weights file) and `include_top` (must be false).
        input_shape: The model's input shape `(height, width, channels)`.

    Returns:
        The pooled features tensor the head is applied to.

    Raises:
        ModelError: For an unknown name, `weights: imagenet` (a download), a missing or
            non-.h5 weights file, `include_top: true`, or an input shape or weights file
            the application rejects.

    Example:
        ```python
        spec = {"architecture": "application", "name": "MobileNetV2", "weights": None}
        model = build_model(spec, input_shape=(32, 32, 3), num_classes=5)
        ```
    """
    names = application_names()
    name = options["name"]
    if name not in names:
        raise ModelError(f"`model.name` must be a keras.applications model ({', '.join(names)}). "
                         f"Received: name={name!r}")
    if options["include_top"] is not False:
        raise ModelError("`model.include_top` must be false: kerasopt adds its own head for the data's "
                         f"classes. Received: include_top={options['include_top']!r}")
    weights = options["weights"]
    if isinstance(weights, str) and weights.lower() == "imagenet":
        raise ModelError("`model.weights: imagenet` would download weights, and kerasopt never downloads. "
                         "Set `model.weights` to null (random initialization) or to a local .h5/.weights.h5 "
                         f"file of {name} without its top. Received: weights={weights!r}")
    if weights is not None:
        if not isinstance(weights, (str, Path)) or not str(weights).endswith((".h5", ".keras")):
            raise ModelError("`model.weights` must be null or the path of a local .h5/.weights.h5/.keras "
                             f"file. Received: weights={weights!r}")
        if not Path(weights).is_file():
            raise ModelError(f"`model.weights` file does not exist. Received: weights={str(weights)!r}")
        weights = str(weights)
    if len(input_shape) != 3:
        raise ModelError(f"`model.architecture: application` ({name}) needs image inputs (height, width, "
                         f"channels). Received: input_shape={tuple(input_shape)}")
    archive = weights is not None and weights.endswith(".keras")
    try:
        backbone = getattr(keras.applications, name)(
            include_top=False, weights=None if archive else weights, input_shape=tuple(input_shape),
            pooling="avg")
        if archive:  # a saved backbone: its weights, read from the archive (no code runs)
            backbone.load_weights(weights)
    except ValueError as err:
        raise ModelError(f"`model.name: {name}` cannot be built for input_shape={tuple(input_shape)} "
                         f"and weights={weights!r}: {err}") from err
    return backbone(x)
