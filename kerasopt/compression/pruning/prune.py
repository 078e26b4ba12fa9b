"""`prune_low_magnitude`: a copy of a model with its prunable layers wrapped for pruning."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import keras

from kerasopt.compression import cloning, layers
from kerasopt.compression.pruning import _layers
from kerasopt.compression.pruning.pruning_schedule import PruningSchedule
from kerasopt.compression.pruning.pruning_wrapper import (
    PruneLowMagnitude,
    check_kernel_shape,
    check_structure,
)

_HINT = ("Wrap its layers in kerasopt.compression.pruning.PruneLowMagnitude inside its code "
         "instead.")


def _unsupported(layer: Any) -> str:
    if isinstance(layer, PruneLowMagnitude):
        return f"Layer {layer.name!r} is already wrapped for pruning."
    return _layers.unsupported_message(layer)


SUPPORT = layers.Support("pruned", _layers.PRUNABLE_TYPES, layers.PRUNING_OPT_IN, _unsupported)
"""What pruning compresses (see :mod:`kerasopt.compression.layers`)."""


def _select(model: Any, structure: str, m: int, patterns: Sequence[str] | None,
            layer_types: Sequence[str] | None) -> set[int]:
    selected = set()
    for qualified, layer in layers.select(model, patterns, layer_types, SUPPORT):
        named = patterns is not None and layers.matches(qualified, layer, patterns)
        if layer.built:
            shape = tuple(_layers.pruned_weight(layer).shape)
            try:
                check_kernel_shape(layer, shape, structure, m)
            except ValueError:
                if named:
                    raise
                continue  # e.g. 3 input channels cannot form 2:4 groups: left dense
        selected.add(id(layer))
    if not selected:
        raise ValueError(
            f"No layer of model {model.name!r} was selected for pruning (layers={patterns!r}, "
            f"layer_types={layer_types!r}, structure={structure!r}). Supported layer types: "
            f"{', '.join(_layers.SUPPORTED_TYPES)}.")
    return selected


def prune_low_magnitude(
    model: keras.Model,
    pruning_schedule: PruningSchedule | None = None,
    *,
    structure: str = "unstructured",
    n: int = 2,
    m: int = 4,
    block_shape: Sequence[int] = (1, 4),
    scope: str = "layer",
    layers: Sequence[str] | None = None,
    layer_types: Sequence[str] | None = None,
) -> keras.Model:
    """Return a new model whose selected layers are wrapped in `PruneLowMagnitude`.

    The model is rebuilt with `keras.models.clone_model` (nested Sequential and Functional
    models included) and every weight is copied, so the new model starts from the same
    function; the original is left untouched. Train the new model with the
    `UpdatePruning` callback, which applies the schedule; then `strip_pruning` it for
    export. Compile the returned model before `fit` (Keras recompiles a clone of a
    compiled model from its compile config, with a fresh optimizer).

    Selection: by default every layer of a supported type (Dense, EinsumDense,
    Conv1D/2D/3D, DepthwiseConv1D/2D, SeparableConv1D/2D; the exact type, not a subclass)
    and every layer with a `get_prunable_weights()` method (tfmot's opt-in; see
    :mod:`kerasopt.compression.layers`) is wrapped, and other layers are left alone. `layers`
    restricts to names matching fnmatch patterns (a layer's own name or its `outer/inner`
    path in nested models) and `layer_types` to class names; with both, a layer must match
    both (the rule of :func:`kerasopt.compression.layers.select`, shared by every
    technique). With `"n:m"`, a layer whose input-channel count is not a multiple of `m` is
    left dense unless a pattern selects it.

    Args:
        model: A Sequential or Functional Keras model.
        pruning_schedule: A `PruningSchedule` shared by all wrapped layers, or None for
            `PolynomialDecay(0.0, 0.5, begin_step=0, end_step=1000)` (power 3, every 100
            steps). Defaults to `None`.
        structure: `"unstructured"`, `"n:m"` or `"block"` (see `PruneLowMagnitude`).
            Defaults to `"unstructured"`.
        n: Weights kept per group with `"n:m"`. Defaults to `2`.
        m: Group length with `"n:m"`. Defaults to `4`.
        block_shape: `(rows, cols)` of a block with `"block"`. Defaults to `(1, 4)`.
        scope: `"layer"` (each kernel pruned to the target sparsity) or `"global"` (one
            magnitude ranking across all wrapped kernels, as they are, so layers end up with
            different sparsities and the whole reaches the target). Ignored by `"n:m"`.
            Defaults to `"layer"`.
        layers: fnmatch patterns of layer names to prune, or None for all. Defaults to
            `None`.
        layer_types: Layer class names (or classes) to prune (`["Dense", "Conv2D"]`), or
            None for all supported types. Defaults to `None`.

    Returns:
        The new model.

    Raises:
        ValueError: If an argument is invalid, the model is subclassed, a named layer
            cannot be pruned, or nothing is selected.
        UnsupportedBackendError: (a ValueError) Under a Keras backend other than TensorFlow;
            see `kerasopt._backend.TENSORFLOW_ONLY`.

    Example:
        >>> from kerasopt.compression.pruning import ConstantSparsity
        >>> model = keras.Sequential([keras.Input((8,)), keras.layers.Dense(8, name="hidden"),
        ...                           keras.layers.Dense(1, name="out")])
        >>> pruned = prune_low_magnitude(model, ConstantSparsity(0.5, frequency=1),
        ...                              layers=["hidden"])
        >>> [layer.name for layer in pruned.layers]
        ['prune_low_magnitude_hidden', 'out']
    """
    if pruning_schedule is not None and not isinstance(pruning_schedule, PruningSchedule):
        raise ValueError("`pruning_schedule` must be a PruningSchedule or None. Received: "
                         f"pruning_schedule={pruning_schedule!r}")
    check_structure(structure, n, m, block_shape, scope)
    cloning.check_graph_model(model, "prune_low_magnitude", _HINT)
    selected = _select(model, structure, m, layers, layer_types)

    def replace(layer: Any) -> Any:
        if id(layer) not in selected:
            return None
        return PruneLowMagnitude(cloning.copy_layer(layer), pruning_schedule, structure=structure, n=n,
                                 m=m, block_shape=block_shape, scope=scope)

    return cloning.clone_with_weights(model, replace, function_name="prune_low_magnitude", hint=_HINT)
