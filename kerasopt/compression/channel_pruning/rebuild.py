"""Build the smaller dense model: layers cloned with fewer filters/units, kept weights copied.

Each channel source gets `filters`/`units` equal to its group's kept count (its config
otherwise unchanged); every other layer keeps its config and its input width follows from
the graph. Weights are sliced, never recomputed: a source's kernel keeps its kept input
rows (`kernel[..., in, :]`) and output columns, its bias the kept outputs; a
BatchNormalization keeps gamma, beta and the moving statistics of its kept channels; a
DepthwiseConv its kept channels' kernels and biases; a Dense after a `Flatten` the rows of
every kept channel at every step. So with nothing pruned the new model computes exactly
what the old one did, and removing channels whose filters (or BN scale and offset) are
zero leaves the outputs unchanged.
"""

from __future__ import annotations

from typing import Any

import keras
import numpy as np

from kerasopt.compression.channel_pruning.graph import DEPTHWISE, SOURCES, ChannelGraph
from kerasopt.compression.cloning import clone_graph_model


def rebuild(model: Any, graph: ChannelGraph, keep: dict[str, list[int]]) -> keras.Model:
    """A new model with the channels of `keep` (group name -> kept indices) kept, weights copied.

    Raises:
        ValueError: For a group name `keep` holds that the model has not, or indices outside it.
    """
    by_name = {g.name: root for root, g in graph.groups.items()}
    roots: dict[int, np.ndarray] = {}
    for name, indices in keep.items():
        if name not in by_name:
            raise ValueError(f"the plan keeps channels of group {name!r}, which the model has not. "
                             f"The model's channel groups: {', '.join(sorted(by_name))}.")
        group = graph.groups[by_name[name]]
        kept = np.asarray(indices, dtype=int)
        if kept.size == 0 or kept.min() < 0 or kept.max() >= group.channels or np.unique(kept).size != kept.size:
            raise ValueError(f"the plan's kept channels of group {name!r} must be distinct indices in "
                             f"[0, {group.channels}), at least one. Received: {list(indices)!r}")
        roots[by_name[name]] = np.sort(kept)
    clones: dict[str, Any] = {}

    def clone_layer(layer: Any) -> Any:
        config = layer.get_config()
        if layer.name in graph.sources:
            root = graph.find(graph.sources[layer.name])
            if root in roots:
                config["units" if type(layer) is keras.layers.Dense else "filters"] = int(roots[root].size)
        clones[layer.name] = type(layer).from_config(config)
        return clones[layer.name]

    new = clone_graph_model(model, clone_layer, compile=False)
    for layer in model.layers:
        if layer.name in clones and layer.weights:
            clones[layer.name].set_weights(_sliced(layer, graph, roots))
    return new


def _sliced(layer: Any, graph: ChannelGraph, roots: dict[int, np.ndarray]) -> list[np.ndarray]:
    """The layer's weights with only the kept channels."""
    weights = [keras.ops.convert_to_numpy(w) for w in layer.weights]
    if layer.name not in graph.inputs:
        return weights
    kept_in = graph.inputs[layer.name].kept(roots, graph.find)
    if type(layer) in SOURCES:
        root = graph.find(graph.sources[layer.name])
        kept_out = roots.get(root, np.arange(weights[0].shape[-1]))
        kernel = np.take(np.take(weights[0], kept_in, axis=-2), kept_out, axis=-1)
        return [kernel, *(np.take(w, kept_out, axis=-1) for w in weights[1:])]
    if type(layer) in DEPTHWISE:
        return [np.take(weights[0], kept_in, axis=-2), *(np.take(w, kept_in, axis=-1) for w in weights[1:])]
    return [np.take(w, kept_in, axis=-1) for w in weights]  # BatchNormalization: 1-D per channel
