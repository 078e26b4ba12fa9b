"""Low-rank factorization of a model's Dense and convolution kernels by truncated SVD.

- `Dense(units)` becomes `Dense(r, use_bias=False)` followed by `Dense(units)` (the
  original's activation, bias and name).
- `Conv1D`/`Conv2D(filters, kernel_size)` becomes a convolution with `r` filters and the
  original's kernel size, strides, padding and dilation, without bias, followed by a 1x1
  (1) convolution with `filters` filters, the bias, the activation and the original's name.
  The kernel `(k..., cin, cout)` is factorized as the matrix `(k... * cin, cout)`.

The first layer is named `<name>_lowrank`. Rank `r` comes from the retained energy or a
parameter budget (:func:`kerasopt.compression.low_rank.svd.choose_rank`); a layer whose
factors would not hold fewer weights than its kernel is left as it is, and the plan says so.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import keras
import numpy as np

from kerasopt.compression import cloning, layers
from kerasopt.compression.low_rank.svd import (
    check_rank_args,
    choose_rank,
    max_useful_rank,
    truncated_factors,
)

SUPPORTED_LAYER_TYPES: tuple[type, ...] = (keras.layers.Dense, keras.layers.Conv1D, keras.layers.Conv2D)
"""The layer types factorized (matched by exact type)."""

SUFFIX = "_lowrank"
"""Appended to a factorized layer's name to name its first factor."""

_HINT = "Rebuild it with keras.Sequential([...]) or keras.Model(inputs, outputs)."


def _describe(layer: Any) -> str:
    return (f"Layer {layer.name!r} ({layers.type_description(layer)}) cannot be factorized; supported "
            f"layer types: {', '.join(t.__name__ for t in SUPPORTED_LAYER_TYPES)} (exact types, "
            "ungrouped convolutions).")


def _factorizable(layer: Any) -> bool:
    return type(layer) in SUPPORTED_LAYER_TYPES and getattr(layer, "groups", 1) == 1 and (
        getattr(layer, "lora_rank", None) is None)


SUPPORT = layers.Support("factorized", SUPPORTED_LAYER_TYPES, None, _describe)
"""What low-rank factorization compresses (see :mod:`kerasopt.compression.layers`)."""


def _matrix(layer: Any) -> np.ndarray:
    """The layer's kernel as a 2-D matrix `(inputs, outputs)`."""
    kernel = keras.ops.convert_to_numpy(layer.kernel)
    return kernel.reshape(-1, kernel.shape[-1])


def _bias_params(layer: Any) -> int:
    return int(layer.bias.shape[0]) if getattr(layer, "use_bias", False) else 0


def _check_model(model: Any, function: str) -> None:
    cloning.check_graph_model(model, f"`{function}`", _HINT)
    if not model.built:
        raise ValueError(f"`{function}` needs a built model; {model.name!r} is not built. "
                         "Give it an Input (keras.Input(shape=...)) or call it on a batch first.")


def _chosen(model: Any, patterns: Sequence[str] | None, layer_types: Sequence[Any] | None) -> list[tuple[str, Any]]:
    chosen = layers.select(model, patterns, layer_types, SUPPORT)
    return [(q, layer) for q, layer in chosen if _factorizable(layer)]


def low_rank_plan(model: keras.Model, *, energy: float | None = None, params_ratio: float | None = None,
                  layers: Sequence[str] | None = None,
                  layer_types: Sequence[str | type] | None = None) -> dict[str, dict[str, Any]]:
    """The rank each selected layer of `model` gets, with its parameters before and after.

    Args:
        model: A built Sequential or Functional model (nested ones walked into).
        energy: Keep the smallest rank whose squared singular values sum to at least this
            fraction of the kernel's (in (0, 1]). Defaults to `None`.
        params_ratio: Keep the largest rank whose factors hold at most this fraction of
            the kernel's weights (in (0, 1)). Defaults to `None`. Give exactly one of the two.
        layers: fnmatch patterns of layer names or qualified names. Defaults to `None`
            (every Dense, Conv1D and Conv2D).
        layer_types: Layer class names or classes; with `layers`, both must match.
            Defaults to `None`.

    Returns:
        `{qualified name: {"rank", "full_rank", "energy", "params_before", "params_after"}}`,
        `"energy"` being the fraction of the squared singular values the rank keeps; a
        layer left as it is has `"rank": None` and a `"skipped"` reason.

    Raises:
        ValueError: For a bad argument, a subclassed or unbuilt model, or a selection the
            rule of :func:`kerasopt.compression.layers.select` refuses.

    Example:
        >>> model = keras.Sequential([keras.Input((64,)), keras.layers.Dense(64, name="hidden")])
        >>> low_rank_plan(model, params_ratio=0.5)["hidden"]["params_after"]
        2112
    """
    check_rank_args(energy, params_ratio)
    _check_model(model, "low_rank_plan")
    plan: dict[str, dict[str, Any]] = {}
    for qualified, layer in _chosen(model, layers, layer_types):
        matrix = _matrix(layer)
        (m, n), bias = matrix.shape, _bias_params(layer)
        values = np.linalg.svd(matrix.astype(np.float64), compute_uv=False)
        rank = choose_rank(values, (m, n), energy=energy, params_ratio=params_ratio)
        total = float((values ** 2).sum())
        entry: dict[str, Any] = {
            "rank": rank, "full_rank": min(m, n),
            "energy": float((values[:rank] ** 2).sum() / total) if total else 1.0,
            "params_before": m * n + bias, "params_after": rank * (m + n) + bias}
        if rank > max_useful_rank(m, n):
            entry.update(rank=None, params_after=m * n + bias,
                         skipped=f"rank {rank} (of {min(m, n)}) needs {rank * (m + n)} weights in two factors, "
                                 f"not fewer than the kernel's {m * n}; left as it is")
        plan[qualified] = entry
    return plan


def _factor_layers(layer: Any, rank: int) -> list[Any]:
    """The two layers that replace `layer`, built and holding its rank-`rank` factors."""
    config = layer.get_config()
    kernel = keras.ops.convert_to_numpy(layer.kernel)
    a, b, _ = truncated_factors(kernel.reshape(-1, kernel.shape[-1]), rank)
    first_config = {**config, "name": f"{layer.name}{SUFFIX}", "use_bias": False, "activation": None,
                    "activity_regularizer": None, "bias_regularizer": None, "bias_constraint": None}
    second_config = dict(config)
    if isinstance(layer, keras.layers.Dense):
        first_config["units"] = rank
    else:
        ones = (1,) * (kernel.ndim - 2)
        first_config["filters"] = rank
        second_config.update(kernel_size=ones, strides=ones, dilation_rate=ones, padding="valid", groups=1)
    first = type(layer).from_config(first_config)
    second = type(layer).from_config(second_config)
    input_shape = layer.get_build_config()["input_shape"]
    first.build(input_shape)
    second.build(first.compute_output_shape(input_shape))
    first.set_weights([a.reshape((*kernel.shape[:-1], rank))])
    rest = [keras.ops.convert_to_numpy(layer.bias)] if getattr(layer, "use_bias", False) else []
    second.set_weights([b.reshape((*(1,) * (kernel.ndim - 2), rank, kernel.shape[-1])), *rest])
    return [first, second]


def factorize_low_rank(model: keras.Model, *, energy: float | None = None, params_ratio: float | None = None,
                       ranks: Mapping[str, int] | None = None, layers: Sequence[str] | None = None,
                       layer_types: Sequence[str | type] | None = None) -> keras.Model:
    """A copy of `model` with the selected kernels replaced by their truncated-SVD factors.

    Each factorized layer becomes two layers of its type (see the module docstring); the
    others are copied with their weights. The input model is not changed; the copy carries
    its compile settings when it was compiled. Fine-tune it afterwards: the factors start
    at the best rank-`r` approximation of each kernel, not at the original function.

    Args:
        model: A built Sequential or Functional model (nested ones walked into).
        energy: Rank by retained energy; see :func:`low_rank_plan`. Defaults to `None`.
        params_ratio: Rank by parameter budget; see :func:`low_rank_plan`. Defaults to `None`.
        ranks: `{qualified layer name: rank}` to factorize exactly these layers at these
            ranks (between 1 and the kernel's full rank, whether or not it saves weights),
            instead of `energy`/`params_ratio`: the ranks a plan chose, to rebuild the
            same architecture. Defaults to `None`.
        layers: fnmatch patterns of layer names or qualified names. Defaults to `None`.
        layer_types: Layer class names or classes. Defaults to `None`.

    Returns:
        The new model (a copy, also when no layer's factors would save weights).

    Raises:
        ValueError: For a bad argument, a subclassed or unbuilt model, a selection
            :func:`kerasopt.compression.layers.select` refuses, or a `ranks` entry that
            names no factorizable layer or holds a rank out of range.

    Example:
        >>> model = keras.Sequential([keras.Input((64,)), keras.layers.Dense(64, name="hidden")])
        >>> small = factorize_low_rank(model, params_ratio=0.5)
        >>> [(layer.name, layer.count_params()) for layer in small.layers]
        [('hidden_lowrank', 1024), ('hidden', 1088)]
    """
    _check_model(model, "factorize_low_rank")
    if ranks is None:
        plan = low_rank_plan(model, energy=energy, params_ratio=params_ratio, layers=layers,
                             layer_types=layer_types)
        ranks = {q: entry["rank"] for q, entry in plan.items() if entry["rank"] is not None}
    elif energy is not None or params_ratio is not None:
        raise ValueError("Give `ranks` alone, or `energy` or `params_ratio`. Received: "
                         f"ranks={dict(ranks)!r}, energy={energy!r}, params_ratio={params_ratio!r}")
    chosen = dict(_chosen(model, layers, layer_types))
    for name, rank in dict(ranks).items():
        if name not in chosen:
            raise ValueError(f"`ranks` names {name!r}, which is no selected Dense, Conv1D or Conv2D layer "
                             f"of model {model.name!r}. Selected: {sorted(chosen)}. Received: ranks={dict(ranks)!r}")
        full = min(_matrix(chosen[name]).shape)
        if isinstance(rank, bool) or not isinstance(rank, (int, np.integer)) or not 1 <= rank <= full:
            raise ValueError(f"`ranks[{name!r}]` must be an integer between 1 and {full} (the kernel's full "
                             f"rank). Received: ranks={dict(ranks)!r}")
    by_id = {id(chosen[name]): int(rank) for name, rank in ranks.items()}

    def replace(layer: Any) -> list[Any] | None:
        return _factor_layers(layer, by_id[id(layer)]) if id(layer) in by_id else None

    return cloning.clone_with_weights(model, replace, function_name="`factorize_low_rank`", hint=_HINT)
