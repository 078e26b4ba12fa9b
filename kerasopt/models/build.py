"""`build_model`: the one entry point from a recipe's `model:` section to a Keras model."""

from __future__ import annotations

import re
import warnings
from collections.abc import Mapping
from typing import Any

import keras

from kerasopt.models import (
    application,
    cnn,
    fcn,
    layer_list,
    mlp,
    mobilenet,
    resnet,
    resnet1d,
    spec_checks,
    transfer,
)
from kerasopt.models.errors import ModelError
from kerasopt.models.layer_factory import LayerFactory, check_activation

COMMON_OPTIONS: dict[str, Any] = {
    "activation": "relu",
    "kernel_initializer": "glorot_uniform",
    "l1": 0.0,
    "l2": 0.0,
    "dropout": 0.0,
    "normalization": None,
    "output_activation": "auto",
}
"""Options every architecture accepts, with their defaults (normalization: see below)."""

ARCHITECTURE_OPTIONS: dict[str, dict[str, Any]] = {
    "mlp": mlp.OPTIONS, "cnn": cnn.OPTIONS, "resnet": resnet.OPTIONS, "mobilenet": mobilenet.OPTIONS,
    "fcn": fcn.OPTIONS, "resnet1d": resnet1d.OPTIONS, "layers": layer_list.OPTIONS,
    "application": application.OPTIONS, "file": transfer.OPTIONS,
}
"""The options of each architecture with their defaults."""

_FEATURES = {"mlp": mlp.mlp_features, "cnn": cnn.cnn_features, "resnet": resnet.resnet_features,
             "mobilenet": mobilenet.mobilenet_features, "fcn": fcn.fcn_features,
             "resnet1d": resnet1d.resnet1d_features}
_CONVOLUTIONAL = ("cnn", "resnet", "mobilenet")
_SEQUENCE = ("fcn", "resnet1d")  # time-series architectures: (steps, channels) inputs only
_BATCH_NORM = ("resnet", "mobilenet", "fcn", "resnet1d")  # normalization defaults to "batch"
# Common options an architecture ignores; setting one to a non-default value is an error.
_UNUSED = {"layers": set(COMMON_OPTIONS), "application": {"activation", "normalization"},
           "file": {"activation", "normalization", "dropout"}}
_REQUIRED = {"layers": "layers", "application": "name", "file": "path"}


def build_model(spec: Mapping[str, Any], *, input_shape: tuple[int, ...], num_classes: int | None,
                normalizer: keras.layers.Layer | None = None, seed: int = 0,
                head: tuple[int, str] | None = None, mask_value: float | None = None) -> keras.Model:
    """Build the Keras model a recipe's `model:` section describes.

    `spec["architecture"]` selects the builder: `mlp`, `cnn`, `resnet`, `mobilenet`
    (kerasopt's built-in architectures, 1D for `(steps, channels)` and 2D for
    `(height, width, channels)` inputs), `fcn` and `resnet1d` (the time-series networks
    of Wang et al. 2017 / Fawaz et al. 2019, `(steps, channels)` inputs), `layers` (the user's layer list, no head
    added), `application` (a `keras.applications` backbone, never downloaded) or `file`
    (a `.keras` file, with `freeze`/`unfreeze` patterns and `replace_head`). The common
    options `activation`, `kernel_initializer` (`"lsuv"` builds with `"orthogonal"`; the
    runner applies LSUV with data afterwards), `l1`, `l2`, `dropout`, `normalization`
    and `output_activation` are described in :class:`LayerFactory`; `normalization`
    defaults to `"batch"` for `resnet`, `mobilenet`, `fcn` and `resnet1d` (as in their
    papers) and `"none"` otherwise. Options that are absent or None take their defaults; options an
    architecture does not use must keep their defaults.

    The head is a Dense layer named `head`. With `head=(units, activation)` (the
    `kerasopt.data.output_spec.OutputSpec.head` of the data bundle, which also decided
    the label encoding) it has exactly that: e.g. `(1, "sigmoid")` for a binary
    crossentropy head, `(3, "linear")` for three regression targets. Without it, the
    head has `num_classes` units (1 for regression, `num_classes=None`) and
    `output_activation: auto` means softmax for two or more classes, sigmoid for one,
    linear for regression (for `file` models: keep the old head's).
    A fitted `normalizer` layer becomes the first layer after the Input, so the model
    (and its exports) take raw inputs; for a `file` model the loaded model is wrapped.
    Kernels are initialized with seeds derived from `seed`, so builds are reproducible.
    With `mask_value` (padded variable-length sequences), `keras.layers.Masking` comes
    first: recurrent layers skip the padded steps and GlobalAveragePooling1D leaves them
    out. A layer that would drop the mask (Conv1D, Flatten, the built-in `cnn`, `resnet`,
    `mlp`: Keras warns that it "will destroy the mask information", and the padded steps
    would count as data) is refused with a ModelError naming it.

    Args:
        spec: The `model:` section as a plain mapping with an `architecture` key.
        input_shape: One example's shape, without the batch axis.
        num_classes: The number of classes, or None for a regression task.
        normalizer: An adapted layer (e.g. `keras.layers.Normalization`) to apply first.
            Defaults to `None`.
        seed: Base seed of initializers and dropout. Defaults to `0`.
        head: `(units, activation)` of the output layer, or `None` to derive them from
            `num_classes` and `output_activation`. Defaults to `None`.
        mask_value: Mask input steps whose every feature equals this value. Defaults to
            `None` (no mask).

    Returns:
        The built (uncompiled) model.

    Raises:
        ModelError: For an unknown architecture or option, a value outside what is
            allowed, an input shape the architecture cannot take, or a file or layer
            that cannot be loaded or built.

    Example:
        ```python
        model = build_model({"architecture": "cnn", "filters": [8, 16]},
                            input_shape=(40, 1), num_classes=10)
        model.compile("adam", "sparse_categorical_crossentropy", metrics=["accuracy"])
        ```
    """
    if not isinstance(spec, Mapping):
        raise ModelError(f"The model spec must be a mapping with an `architecture` key. Received: {spec!r}")
    architecture = spec.get("architecture")
    if architecture not in ARCHITECTURE_OPTIONS:
        raise ModelError(f"`model.architecture` must be one of {', '.join(ARCHITECTURE_OPTIONS)}. "
                         f"Received: architecture={architecture!r}")
    input_shape = _check_input_shape(input_shape)
    if num_classes is not None and (isinstance(num_classes, bool) or not isinstance(num_classes, int)
                                    or num_classes < 1):
        raise ModelError(f"`num_classes` must be None (regression) or an integer >= 1. "
                         f"Received: num_classes={num_classes!r}")
    if normalizer is not None and not isinstance(normalizer, keras.layers.Layer):
        raise ModelError(f"`normalizer` must be a keras.layers.Layer or None. Received: {type(normalizer)}")
    head = _check_head(head)
    checked_width = head is not None or num_classes is not None
    options = _resolve_options(architecture, spec)
    make = LayerFactory(activation=options["activation"], kernel_initializer=options["kernel_initializer"],
                        l1=options["l1"], l2=options["l2"], dropout=options["dropout"],
                        normalization=options["normalization"], seed=seed)
    output_activation = options["output_activation"]
    if output_activation != "auto":
        output_activation = check_activation(output_activation, "output_activation")
    if head is None:
        units = num_classes or 1
        head = (units, _head_activation(output_activation, num_classes))
        if architecture == "file" and output_activation == "auto":
            head = (units, "auto")
    if architecture == "file":
        if mask_value is not None:
            raise ModelError(_MASK_ADVICE.format(what="a model loaded from `model.path`"))
        return _file_model(options, make, input_shape, head, normalizer)
    if architecture in _CONVOLUTIONAL and len(input_shape) not in (2, 3):
        raise ModelError(f"`model.architecture: {architecture}` needs (steps, channels) inputs for 1D "
                         f"or (height, width, channels) inputs for 2D convolutions. Received: "
                         f"input_shape={input_shape}; add a channel axis to the data (e.g. (40,) -> "
                         f"(40, 1)) or use architecture: mlp.")
    if architecture in _SEQUENCE and len(input_shape) != 2:
        raise ModelError(f"`model.architecture: {architecture}` is a time-series network: it needs "
                         f"(steps, channels) inputs. Received: input_shape={input_shape}; add a channel "
                         f"axis to the data (e.g. (152,) -> (152, 1)), or use architecture: cnn or "
                         f"resnet for images.")
    inputs = keras.Input(input_shape, name="inputs")
    if mask_value is not None:
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            model = _features_and_head(architecture, options, make, input_shape, head, normalizer,
                                       checked_width, inputs, keras.layers.Masking(mask_value, name="masking")(inputs))
        dropped = [w for w in caught if "does not support masking" in str(w.message)]
        for other in (w for w in caught if w not in dropped):
            warnings.warn_explicit(other.message, other.category, other.filename, other.lineno)
        if dropped:
            layer = re.search(r"Layer '([^']+)' \(of type (\w+)\)", str(dropped[0].message))
            name = f"layer {layer.group(1)!r} ({layer.group(2)})" if layer else "a layer"
            raise ModelError(_MASK_ADVICE.format(what=f"{name} of `model.architecture: {architecture}`"))
        return model
    return _features_and_head(architecture, options, make, input_shape, head, normalizer, checked_width,
                              inputs, inputs)


_MASK_ADVICE = ("data.sequences masks the padded steps, but {what} does not carry Keras masks: the "
                "padded steps would count as data. Use layers that take a mask (architecture: layers "
                "with LSTM, GRU, SimpleRNN, Bidirectional, or GlobalAveragePooling1D before Dense), "
                "or set `data.sequences.mask: false` to train on the padded sequences as they are.")


def _features_and_head(architecture: str, options: dict[str, Any], make: LayerFactory,
                       input_shape: tuple[int, ...], head: tuple[int, str], normalizer: Any,
                       checked_width: bool, inputs: Any, x: Any) -> keras.Model:
    """The model from `inputs`: the architecture (or layer list) on `x` (the inputs, or their mask), then the head."""
    x = normalizer(x) if normalizer is not None else x
    if architecture == "layers":
        units = head[0] if checked_width else None
        return keras.Model(inputs, layer_list.layer_list_outputs(x, options, units), name="layers")
    if architecture == "application":
        x = make.drop(application.application_features(x, options, input_shape), "features_dropout")
    else:
        x = _FEATURES[architecture](x, options, make, input_shape)
    outputs = make.head(x, *head)
    return keras.Model(inputs, outputs, name=architecture)


def _check_head(head: Any) -> tuple[int, str] | None:
    if head is None:
        return None
    if (not isinstance(head, (tuple, list)) or len(head) != 2 or isinstance(head[0], bool)
            or not isinstance(head[0], int) or head[0] < 1):
        raise ModelError(f"`head` must be None or (units, activation) with units >= 1. "
                         f"Received: head={head!r}")
    return int(head[0]), check_activation(head[1], "output_activation")


def _check_input_shape(input_shape: Any) -> tuple[int, ...]:
    if (not isinstance(input_shape, (tuple, list)) or not input_shape
            or not all(isinstance(d, int) and not isinstance(d, bool) and d >= 1 for d in input_shape)):
        raise ModelError(f"`input_shape` must be a non-empty tuple of integers >= 1 (one example, no batch "
                         f"axis). Received: input_shape={input_shape!r}")
    return tuple(input_shape)


def _resolve_options(architecture: str, spec: Mapping[str, Any]) -> dict[str, Any]:
    own = ARCHITECTURE_OPTIONS[architecture]
    options = {**COMMON_OPTIONS, **own}
    for key, value in spec.items():
        if key == "architecture":
            continue
        if key not in options:
            raise spec_checks.unknown_key(key, value, ["architecture", *options],
                                          f"architecture {architecture!r}")
        if value is not None:
            if key in _UNUSED.get(architecture, ()) and value != COMMON_OPTIONS[key]:
                raise ModelError(f"`model.{key}` has no effect with architecture {architecture!r}; remove it. "
                                 f"Received: {key}={value!r}")
            options[key] = value
    required = _REQUIRED.get(architecture)
    if required is not None and options[required] is None:
        raise ModelError(f"`model.{required}` is required with architecture {architecture!r}. "
                         f"Received: {required}=None")
    if options["normalization"] is None:
        options["normalization"] = "batch" if architecture in _BATCH_NORM else "none"
    return options


def _head_activation(output_activation: str, num_classes: int | None) -> str:
    if output_activation != "auto":
        return output_activation
    if num_classes is None:
        return "linear"
    return "softmax" if num_classes > 1 else "sigmoid"


def _file_model(options: dict[str, Any], make: LayerFactory, input_shape: tuple[int, ...],
                head: tuple[int, str], normalizer: keras.layers.Layer | None) -> keras.Model:
    model = transfer.load_model_file(options["path"])
    if tuple(model.input_shape[1:]) != input_shape:
        raise ModelError(f"`model.path` holds a model for inputs of shape {tuple(model.input_shape[1:])}, "
                         f"but the data has input_shape={input_shape}.")
    units, activation = head
    if spec_checks.boolean("replace_head", options["replace_head"]):
        model = transfer.replace_head(model, units, make=make, output_activation=activation)
    elif model.output_shape[-1] != units:
        raise ModelError(f"`model.path` holds a model with {model.output_shape[-1]} outputs but the data needs "
                         f"{units} (one per class; 1 for a sigmoid or a single regression target); "
                         "set `model.replace_head: true` to put a new head on it.")
    transfer.set_trainable(model, options["freeze"], options["unfreeze"])
    if normalizer is None:
        return model
    inputs = keras.Input(input_shape, name="inputs")
    return keras.Model(inputs, model(normalizer(inputs)), name=model.name)
