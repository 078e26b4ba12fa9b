"""LoRA fine-tuning of Dense and EinsumDense layers through Keras's `layer.enable_lora(rank)`."""

from __future__ import annotations

import fnmatch
import numbers
from collections.abc import Sequence
from typing import Any

import keras
import numpy as np

from kerasopt._keras_compat import base_kernel
from kerasopt.models.errors import ModelError
from kerasopt.models.layer_walk import all_layers

LORA_TYPES = (keras.layers.Dense, keras.layers.EinsumDense)
"""The layer types Keras gives `enable_lora`."""


def _matches(layer: Any, patterns: Sequence[str]) -> bool:
    return any(fnmatch.fnmatchcase(layer.name, p) for p in patterns)


def lora_candidates(model: keras.Model, layers: Sequence[str]) -> list[Any]:
    """The Dense and EinsumDense layers of `model` (nested models too) whose names match `layers`.

    Raises:
        ModelError: When no such layer matches (the message lists the candidates).
    """
    candidates = [layer for layer in all_layers(model) if isinstance(layer, LORA_TYPES)]
    chosen = [layer for layer in candidates if _matches(layer, layers)]
    if not chosen:
        names = ", ".join(layer.name for layer in candidates[:12]) or "none"
        raise ModelError(f"`layers` matches no Dense or EinsumDense layer of {model.name!r} "
                         f"(those layers: {names}). Received: layers={list(layers)!r}")
    return chosen


def apply_lora(model: keras.Model, rank: int, alpha: float | None = None,
               layers: Sequence[str] = ("*",), train: Sequence[str] = ()) -> list[Any]:
    """Enable LoRA on the matching layers and make their low-rank factors the trained weights.

    Each Dense or EinsumDense layer whose name matches a pattern of `layers` gets
    `layer.enable_lora(rank, lora_alpha=alpha)` (Hu et al. 2021): its kernel `W0` is frozen
    and the layer computes with `W0 + (alpha / rank) * A @ B`, `A` (he-uniform) of shape
    `(in, rank)` and `B` (zeros) of shape `(rank, out)`. Afterwards the model's trainable
    weights are exactly the `A` and `B` factors, plus every weight of the layers matching
    `train` (a new head, say): biases and every other layer are frozen (a frozen
    BatchNormalization runs in inference mode). A layer already LoRA-enabled keeps its factors.

    What trains does not survive a save: Keras saves each layer's `trainable` flag but no
    variable's, and writes a LoRA layer's kernel merged (`W0 + (alpha / rank) * A @ B`), so
    `keras.models.load_model` gives back LoRA layers whose biases train again, with a fresh
    `A` and a zero `B` over the merged kernel (the same outputs). Calling `apply_lora` again
    with the same arguments on the loaded model makes the factors (and `train` layers) the
    only trainable weights again; :func:`lora_state` and :func:`set_lora_state` carry the
    exact `W0`, `A` and `B` across a weight file.

    Args:
        model: A built model.
        rank: The rank of the factors, an integer >= 1.
        alpha: The scale numerator. Defaults to `None` (`rank`, a scale of 1).
        layers: fnmatch patterns of layer names. Defaults to `("*",)`.
        train: fnmatch patterns of further layers to train in full. Defaults to `()`.

    Returns:
        The LoRA-enabled layers.

    Raises:
        ModelError: When `rank` is not an integer >= 1, `alpha` is not a number > 0, `layers`
            matches no Dense or EinsumDense layer, or Keras refuses a layer (a kernel
            constraint, a quantized kernel).

    Example:
        >>> model = keras.Sequential([keras.Input((6,)), keras.layers.Dense(4, name="d")])
        >>> _ = apply_lora(model, rank=2)
        >>> sum(int(np.prod(w.shape)) for w in model.trainable_weights)  # 2 * (6 + 4)
        20
    """
    if isinstance(rank, bool) or not isinstance(rank, int) or rank < 1:
        raise ModelError(f"`rank` must be an integer >= 1. Received: rank={rank!r}")
    if alpha is not None and (isinstance(alpha, bool) or not isinstance(alpha, numbers.Real) or not alpha > 0):
        raise ModelError(f"`alpha` must be a number > 0, or None (`rank`: a scale of 1). Received: alpha={alpha!r}")
    chosen = lora_candidates(model, layers)
    model.trainable = True  # sets every nested flag; the leaves are set below
    for layer in all_layers(model):
        if isinstance(layer, keras.Model):
            continue
        layer.trainable = any(layer is c for c in chosen) or _matches(layer, train)
    for layer in chosen:
        if not layer.lora_enabled:
            try:
                layer.enable_lora(rank, lora_alpha=alpha)
            except (ValueError, NotImplementedError) as err:
                raise ModelError(f"Keras cannot enable LoRA on layer {layer.name!r}: {err}") from err
        if not _matches(layer, train):
            for weight in layer.weights:
                weight.trainable = weight is layer.lora_kernel_a or weight is layer.lora_kernel_b
    return chosen


def lora_state(layers: Sequence[Any]) -> list[np.ndarray]:
    """`[W0, A, B]` of each LoRA layer, in order: what Keras's weight files leave out.

    Keras saves a LoRA layer's kernel merged (`W0 + scale * A @ B`) and loads `A` and `B`
    as zeros, so a run that continues training from a weight file needs these too.
    """
    return [np.asarray(keras.ops.convert_to_numpy(v))
            for layer in layers for v in (base_kernel(layer), layer.lora_kernel_a, layer.lora_kernel_b)]


def set_lora_state(layers: Sequence[Any], values: Sequence[np.ndarray]) -> None:
    """Put back :func:`lora_state` (after loading a weight file that merged the factors).

    Raises:
        ValueError: When the number of arrays is not three per layer.
    """
    if len(values) != 3 * len(layers):
        raise ValueError(f"{len(values)} LoRA arrays are stored; {len(layers)} LoRA layers need {3 * len(layers)}")
    for index, layer in enumerate(layers):
        for variable, value in zip((base_kernel(layer), layer.lora_kernel_a, layer.lora_kernel_b),
                                   values[3 * index:3 * index + 3], strict=True):
            variable.assign(value)


def merged_layer(layer: Any) -> Any:
    """A plain copy of a LoRA layer (no factors) whose kernel is `W0 + (alpha / rank) * A @ B`.

    Returns None for a layer without LoRA.
    """
    if not getattr(layer, "lora_enabled", False):
        return None
    config = {k: v for k, v in layer.get_config().items() if k not in ("lora_rank", "lora_alpha")}
    new = type(layer).from_config(config)
    new.build_from_config(layer.get_build_config())
    weights = [keras.ops.convert_to_numpy(layer.kernel)]
    if getattr(layer, "bias", None) is not None:
        weights.append(keras.ops.convert_to_numpy(layer.bias))
    new.set_weights(weights)
    return new
