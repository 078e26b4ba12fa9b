"""`prune_channels`: remove the least important channels and rebuild a smaller dense model."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import keras

from kerasopt.compression import layers as selection
from kerasopt.compression.channel_pruning.graph import DEPTHWISE, SOURCES, ChannelGraph
from kerasopt.compression.channel_pruning.importance import CRITERIA, group_scores
from kerasopt.compression.channel_pruning.plan import ChannelPlan, choose
from kerasopt.compression.channel_pruning.rebuild import rebuild
from kerasopt.compression.cloning import check_graph_model

SCOPES = ("layer", "global")

SUPPORT = selection.Support(
    "channel-pruned", (*SOURCES, *DEPTHWISE), None,
    lambda layer: (f"Layer {layer.name!r} ({selection.type_description(layer)}) has no channels "
                   f"channel pruning removes. Channel-prunable layer types: "
                   f"{', '.join(t.__name__ for t in (*SOURCES, *DEPTHWISE))}."))
"""What channel pruning selects: layers whose channels it ranks and removes (exact types)."""


def check_arguments(ratio: Any, criterion: Any, scope: Any, round_to: Any) -> None:
    """Raise a ValueError naming the argument, the value and what is allowed, for a bad one."""
    if isinstance(ratio, bool) or not isinstance(ratio, (int, float)) or not 0 <= ratio < 1:
        raise ValueError(f"`ratio` (the fraction of channels removed) must be a number in [0, 1). "
                         f"Received: ratio={ratio!r}")
    if criterion not in CRITERIA:
        raise ValueError(f"`criterion` must be one of {', '.join(CRITERIA)}. Received: criterion={criterion!r}")
    if scope not in SCOPES:
        raise ValueError(f"`scope` must be one of {', '.join(SCOPES)}. Received: scope={scope!r}")
    if isinstance(round_to, bool) or not isinstance(round_to, int) or round_to < 1:
        raise ValueError(f"`round_to` must be an integer >= 1. Received: round_to={round_to!r}")


def plan_channels(model: Any, ratio: float = 0.5, *, criterion: str = "l1", scope: str = "layer",
                  round_to: int = 1, layers: Sequence[str] | None = None,
                  layer_types: Sequence[Any] | None = None) -> ChannelPlan:
    """Rank the channels of `model` and choose the ones that stay (see :func:`prune_channels`).

    Returns:
        The :class:`~kerasopt.compression.channel_pruning.plan.ChannelPlan`.

    Raises:
        ValueError: For a bad argument, a model that is not Functional/Sequential, or a
            selection with nothing that can be pruned (the message gives each reason).
    """
    check_arguments(ratio, criterion, scope, round_to)
    check_graph_model(model, "prune_channels", "Build it as keras.Model(inputs, outputs).")
    graph = ChannelGraph(model)
    chosen = {name for name, _ in selection.select(model, layers, layer_types, SUPPORT)}
    groups = list(graph.groups.values())
    selected = [g for g in groups if chosen & ({*g.sources} | {m for m in g.members if _depthwise(model, m)})]
    refused = [g for g in selected if g.reason is not None]
    exact = {p for p in layers or () if selection._WILDCARDS.isdisjoint(p)}
    named = [g for g in refused if exact & set(g.sources)]
    if named or (selected and len(refused) == len(selected)) or not selected:
        shown = named or refused
        reasons = "; ".join(f"{g.name}: {g.reason}" for g in shown) or "no layer has prunable channels"
        raise ValueError(f"channel pruning: the selected layers' channels cannot be removed ({reasons}). "
                         f"Received: layers={layers!r}, layer_types={layer_types!r}")
    pruned = [g for g in selected if g.reason is None]
    scores = group_scores(graph, model, criterion)
    by_name = {graph.groups[root].name: s for root, s in scores.items()}
    unranked = [g.name for g in pruned if g.name not in by_name]
    if unranked:
        raise ValueError(f"criterion 'bn_scale' ranks channels by the scale (gamma) of their "
                         f"BatchNormalization, and these layers' channels have none: {', '.join(unranked)}. "
                         "Use criterion 'l1' or 'l2', or select only layers followed by BatchNormalization.")
    keep = choose({g.name: by_name[g.name] for g in pruned}, float(ratio), scope, round_to)
    return ChannelPlan(keep, groups)


def apply_plan(model: Any, plan: ChannelPlan | dict[str, list[int]]) -> keras.Model:
    """The smaller dense model `plan` describes (a plan, or its `keep` mapping as stored in JSON).

    The new model is uncompiled; its layers have the original names and the kept weights.
    """
    check_graph_model(model, "apply_plan", "Build it as keras.Model(inputs, outputs).")
    keep = plan.keep if isinstance(plan, ChannelPlan) else plan
    return rebuild(model, ChannelGraph(model), dict(keep))


def prune_channels(model: Any, ratio: float = 0.5, *, criterion: str = "l1", scope: str = "layer",
                   round_to: int = 1, layers: Sequence[str] | None = None,
                   layer_types: Sequence[Any] | None = None) -> tuple[keras.Model, ChannelPlan]:
    """Remove the least important channels of `model` and rebuild it smaller and dense.

    Channels coupled through BatchNormalization, DepthwiseConv, residual `Add`s,
    `Concatenate` and `Flatten` are removed together (see
    :mod:`kerasopt.compression.channel_pruning.graph`); a group that reaches the model's
    output or a layer unknown to channel pruning is left whole.

    Args:
        model: A built Functional or Sequential model (no nested models).
        ratio: The fraction of channels removed, in [0, 1); per group with `scope="layer"`,
            over all pruned groups with `scope="global"`. Defaults to `0.5`.
        criterion: `"l1"` or `"l2"` (norm of each filter) or `"bn_scale"` (|gamma| of the
            BatchNormalization), summed over the group's members. Defaults to `"l1"`.
        scope: `"layer"` or `"global"`. Defaults to `"layer"`.
        round_to: Kept counts are rounded up to a multiple of it. Defaults to `1`.
        layers: fnmatch patterns of the layers whose channels are pruned (a group is pruned
            when one of its channel sources or depthwise convolutions is selected); None
            for all. Defaults to `None`.
        layer_types: Layer class names or classes to select (Conv1D, Conv2D, Dense,
            DepthwiseConv1D, DepthwiseConv2D). Defaults to `None`.

    Returns:
        `(new model, plan)`: the uncompiled smaller model and the
        :class:`~kerasopt.compression.channel_pruning.plan.ChannelPlan` it was built from.

    Raises:
        ValueError: For a bad argument or a selection with nothing that can be pruned.

    Example:
        >>> import keras
        >>> inputs = keras.Input((8, 3))
        >>> x = keras.layers.Conv1D(16, 3, name="conv")(inputs)
        >>> x = keras.layers.BatchNormalization(name="bn")(x)
        >>> x = keras.layers.GlobalAveragePooling1D()(x)
        >>> model = keras.Model(inputs, keras.layers.Dense(4, name="head")(x))
        >>> small, plan = prune_channels(model, 0.75)
        >>> plan.kept_channels()["conv"], small.count_params(), model.count_params()
        ({'before': 16, 'after': 4}, 76, 292)
    """
    plan = plan_channels(model, ratio, criterion=criterion, scope=scope, round_to=round_to,
                         layers=layers, layer_types=layer_types)
    return apply_plan(model, plan), plan


def _depthwise(model: Any, name: str) -> bool:
    return type(model.get_layer(name)) in DEPTHWISE
