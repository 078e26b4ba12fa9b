"""How much each channel of a group matters: L1/L2 norms of filters or BatchNormalization scales.

A group's score of channel `c` is the sum over its members (Torch-Pruning's group
importance with `group_reduction="sum"`):

- `l1` / `l2`: the L1 / L2 norm of channel `c`'s filter (a Conv's `kernel[..., c]`, a Dense's
  `kernel[:, c]`) in every channel source of the group, plus the norm of channel `c`'s
  depthwise kernel in every DepthwiseConv of the group (Li et al., "Pruning Filters for
  Efficient ConvNets", ICLR 2017);
- `bn_scale`: `|gamma_c|` of every BatchNormalization of the group (Liu et al., "Learning
  Efficient Convolutional Networks through Network Slimming", ICCV 2017). A group without a
  scaled BatchNormalization cannot be ranked this way.
"""

from __future__ import annotations

from typing import Any

import keras
import numpy as np

from kerasopt.compression.channel_pruning.graph import DEPTHWISE, ChannelGraph

CRITERIA = ("l1", "l2", "bn_scale")
"""The importance criteria."""


def _norm(values: np.ndarray, criterion: str) -> np.ndarray:
    """Per last-axis channel: L1 or L2 norm over all other axes."""
    flat = values.reshape(-1, values.shape[-1])
    return np.abs(flat).sum(axis=0) if criterion == "l1" else np.sqrt((flat ** 2).sum(axis=0))


def group_scores(graph: ChannelGraph, model: Any, criterion: str) -> dict[int, np.ndarray]:
    """Each group root's channel scores (float64), summed over its members.

    A group that has no member the criterion reads (`bn_scale` and no BatchNormalization
    with `scale=True`) is left out.
    """
    scores = {root: np.zeros(group.channels) for root, group in graph.groups.items()}
    counted = set()

    def add(channels: Any, values: np.ndarray) -> None:
        offset = 0
        for token, length in channels.segments:
            root = graph.find(token)
            if root in scores:
                scores[root] += values[offset:offset + length]
                counted.add(root)
            offset += length

    for name, token in graph.sources.items():
        if criterion != "bn_scale":
            kernel = keras.ops.convert_to_numpy(model.get_layer(name).kernel).astype(np.float64)
            root = graph.find(token)
            if root in scores:
                scores[root] += _norm(kernel, criterion)
                counted.add(root)
    for name, channels in graph.inputs.items():
        layer = model.get_layer(name)
        if criterion == "bn_scale" and isinstance(layer, keras.layers.BatchNormalization) and layer.scale:
            add(channels, np.abs(keras.ops.convert_to_numpy(layer.gamma).astype(np.float64)))
        elif criterion != "bn_scale" and type(layer) in DEPTHWISE:
            kernel = keras.ops.convert_to_numpy(layer.kernel).astype(np.float64)
            add(channels, _norm(kernel[..., 0], criterion))
    return {root: values for root, values in scores.items() if root in counted}
