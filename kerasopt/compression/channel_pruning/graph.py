"""Which channels of a Functional or Sequential model must be removed together: the dependency graph.

Channel pruning removes output channels of a layer (filters of a Conv1D/Conv2D, units of a
Dense). Every other place that reads those channels must lose the same ones: the
BatchNormalization after it, a DepthwiseConv that follows them, the next layer's input
rows, and, through a residual `Add`, every other branch added to them. Torch-Pruning's
dependency graph (Fang et al., "DepGraph: Towards Any Structural Pruning", CVPR 2023)
groups such coupled channels; this module does the same on a Keras graph.

Every tensor's last axis is described by :class:`Channels`: a run of *segments*, each the
whole output of one channel source (a token; a `Concatenate` joins segments), possibly
repeated (`Flatten` of a `(steps, channels)` tensor repeats the channels once per step, so
channel `c` maps to Dense input rows `s * C + c`). An element-wise merge (`Add`,
`Multiply`, ...) unites its inputs' tokens segment by segment (a union-find): the united
tokens form one :class:`ChannelGroup`, pruned as one. A token cannot be pruned when it is
the model's input or output, or when it reaches a layer whose use of channels is not known
here (a `Softmax`, a `Reshape`, `LayerNormalization`, a custom layer...); the whole group
is then left whole, and the reason is kept.

Known layers (exact types, channels last):

- channel sources: `Conv1D`, `Conv2D` (`groups=1`) and `Dense`;
- channel-wise, with weights sliced per channel: `BatchNormalization` over the last axis,
  `DepthwiseConv1D`/`DepthwiseConv2D` with `depth_multiplier=1`;
- pass-through: activations, dropouts, noise, pooling (global too), padding, cropping,
  up-sampling, `Identity`, kerasopt's `StochasticDepth` (it scales whole samples);
- merges: `Add`, `Subtract`, `Multiply`, `Average`, `Maximum`, `Minimum` (inputs coupled),
  `Concatenate` on the last axis (offsets), `Flatten` (repeats).

Keras has no public API for a layer's calls; like the graph walks of BN folding and QAT
(`kerasopt/compression/quantization/_graph.py`) this reads the private `Layer._inbound_nodes`
and each node's `input_tensors`/`output_tensors` (Keras 3.0-3.15;
tests/compression/test_channel_pruning.py fails when they change).
"""

from __future__ import annotations

import dataclasses
from typing import Any

import keras
import numpy as np

from kerasopt.models.stochastic_depth import StochasticDepth

L = keras.layers
SOURCES = (L.Conv1D, L.Conv2D, L.Dense)
"""Layers whose output channels are pruned (matched by exact type)."""
DEPTHWISE = (L.DepthwiseConv1D, L.DepthwiseConv2D)
PASS_THROUGH = (
    L.Activation, L.ReLU, L.LeakyReLU, L.ELU, L.Dropout, L.SpatialDropout1D, L.SpatialDropout2D,
    L.GaussianNoise, L.GaussianDropout, L.AlphaDropout, L.ActivityRegularization, L.Identity,
    L.MaxPooling1D, L.MaxPooling2D, L.AveragePooling1D, L.AveragePooling2D,
    L.GlobalAveragePooling1D, L.GlobalAveragePooling2D, L.GlobalMaxPooling1D, L.GlobalMaxPooling2D,
    L.ZeroPadding1D, L.ZeroPadding2D, L.Cropping1D, L.Cropping2D, L.UpSampling1D, L.UpSampling2D,
    StochasticDepth)
ELEMENTWISE = (L.Activation, L.ReLU, L.LeakyReLU, L.ELU, L.Dropout, L.GaussianNoise,
               L.GaussianDropout, L.AlphaDropout, L.ActivityRegularization, L.Identity, StochasticDepth)
"""Pass-through layers that also accept a flattened tensor (no spatial axes)."""
MERGES = (L.Add, L.Subtract, L.Multiply, L.Average, L.Maximum, L.Minimum)


@dataclasses.dataclass(frozen=True)
class Channels:
    """The last axis of a tensor: `segments` (token, length) in order, all repeated `repeats` times."""

    segments: tuple[tuple[int, int], ...]
    repeats: int = 1

    @property
    def width(self) -> int:
        """Channels of one repeat."""
        return sum(length for _, length in self.segments)

    def kept(self, keep: dict[int, np.ndarray], find: Any) -> np.ndarray:
        """The indices of this axis that stay when each group root keeps `keep[root]` (all if absent)."""
        parts, offset = [], 0
        for token, length in self.segments:
            parts.append(offset + keep.get(find(token), np.arange(length)))
            offset += length
        inner = np.concatenate(parts) if parts else np.zeros(0, dtype=int)
        return (np.arange(self.repeats)[:, None] * offset + inner[None, :]).reshape(-1)


@dataclasses.dataclass
class ChannelGroup:
    """Channels pruned together.

    Attributes:
        name: The first channel source's name (the group's name in reports).
        channels: How many channels each member has.
        sources: Names of the layers whose output channels these are.
        members: Names of every layer whose weights lose the pruned channels (sources,
            batch norms, depthwise convolutions, and the layers reading the channels).
        reason: Why the group cannot be pruned, or None.
    """

    name: str
    channels: int
    sources: list[str]
    members: list[str]
    reason: str | None = None


class ChannelGraph:
    """The channel dependencies of a built Functional or Sequential model.

    Args:
        model: The model (not nested: a model inside the model is refused).

    Attributes:
        sources: `layer name -> token` of each channel source's output.
        inputs: `layer name -> Channels` read by each layer that has weights.
        groups: The :class:`ChannelGroup` of every group root token.

    Raises:
        ValueError: For a subclassed or nested model, or a layer called more than once.
    """

    def __init__(self, model: Any) -> None:
        self.model = model
        self._parent: list[int] = []
        self._length: list[int] = []
        self._reason: dict[int, str] = {}
        self._source_of: dict[int, str] = {}
        self.sources: dict[str, int] = {}
        self.inputs: dict[str, Channels] = {}
        self._members: dict[int, list[str]] = {}
        self._walk()
        self.groups = self._collect()

    # --- union-find over tokens -------------------------------------------------------
    def _token(self, length: int, reason: str | None = None) -> int:
        self._parent.append(len(self._parent))
        self._length.append(length)
        if reason is not None:
            self._reason[len(self._parent) - 1] = reason
        return len(self._parent) - 1

    def find(self, token: int) -> int:
        """The root token of `token`'s group."""
        while self._parent[token] != token:
            self._parent[token] = self._parent[self._parent[token]]
            token = self._parent[token]
        return token

    def _union(self, a: int, b: int) -> None:
        ra, rb = self.find(a), self.find(b)
        if ra != rb:
            self._parent[rb] = ra
            if rb in self._reason:
                self._reason.setdefault(ra, self._reason.pop(rb))

    def _refuse(self, channels: Channels, reason: str) -> None:
        for token, _ in channels.segments:
            self._reason.setdefault(self.find(token), reason)

    def _member(self, layer: Any, channels: Channels) -> None:
        for token, _ in channels.segments:
            self._members.setdefault(token, []).append(layer.name)

    # --- the walk --------------------------------------------------------------------
    def _walk(self) -> None:
        model = self.model
        described: dict[int, Channels] = {}
        for tensor in model.inputs:
            described[id(tensor)] = Channels(((self._token(_last(tensor), "it is the model's input"),
                                               _last(tensor)),))
        operations = getattr(model, "operations", None) or model.layers
        for layer in operations:
            if isinstance(layer, L.InputLayer):
                continue
            if isinstance(layer, keras.Model):
                raise ValueError(f"prune_channels works on a model without nested models; {layer.name!r} "
                                 f"is a model inside {model.name!r}. Build the network as one Functional model.")
            nodes = [n for n in layer._inbound_nodes
                     if all(id(t) in described for t in n.input_tensors) and n.input_tensors]
            if len(nodes) != 1:
                raise ValueError(f"prune_channels needs every layer called once; layer {layer.name!r} "
                                 f"({type(layer).__name__}) is called {len(nodes)} times in {model.name!r}.")
            node = nodes[0]
            ins = [described[id(t)] for t in node.input_tensors]
            outs = self._layer(layer, ins, node.input_tensors, node.output_tensors)
            for tensor, channels in zip(node.output_tensors, outs, strict=True):
                described[id(tensor)] = channels
        for tensor in model.outputs:
            self._refuse(described[id(tensor)], "it is the model's output")

    def _unknown(self, layer: Any, ins: list[Channels], outputs: Any, why: str) -> list[Channels]:
        for channels in ins:
            self._refuse(channels, f"it reaches layer {layer.name!r} ({type(layer).__name__}), {why}")
        reason = f"it comes from layer {layer.name!r} ({type(layer).__name__}), {why}"
        return [Channels(((self._token(_last(t), reason), _last(t)),)) for t in outputs]

    def _layer(self, layer: Any, ins: list[Channels], inputs: Any, outputs: Any) -> list[Channels]:
        kind = type(layer)
        unknown = "which channel pruning does not know"
        channels_last = getattr(layer, "data_format", "channels_last") == "channels_last"
        if len(ins) == 1 and len(outputs) == 1:
            (x,) = ins
            if kind in SOURCES and channels_last and getattr(layer, "groups", 1) == 1 and (
                    x.repeats == 1 or kind is L.Dense):
                self.inputs[layer.name] = x
                token = self._token(_last(outputs[0]))
                self.sources[layer.name] = token
                self._source_of[token] = layer.name
                self._members.setdefault(token, []).append(layer.name)
                self._member(layer, x)
                return [Channels(((token, _last(outputs[0])),))]
            rank = len(inputs[0].shape)
            if x.repeats == 1 and ((kind in DEPTHWISE and layer.depth_multiplier == 1 and channels_last)
                                   or (kind is L.BatchNormalization and layer.axis in (-1, rank - 1))):
                self.inputs[layer.name] = x
                self._member(layer, x)
                return [x]
            if kind in PASS_THROUGH and channels_last and (x.repeats == 1 or kind in ELEMENTWISE):
                return [x]
            if kind is L.Flatten and x.repeats == 1:
                steps = int(np.prod(inputs[0].shape[1:-1])) if len(inputs[0].shape) > 2 else 1
                return [Channels(x.segments, steps)]
            if kind in (*DEPTHWISE, L.BatchNormalization, *SOURCES, *PASS_THROUGH, L.Flatten):
                return self._unknown(layer, ins, outputs, "in a form channel pruning does not handle "
                                     "(channels_first, groups, depth_multiplier, axis or a flattened input)")
            return self._unknown(layer, ins, outputs, unknown)
        if kind in MERGES and len(outputs) == 1:
            first = ins[0]
            same = all(c.repeats == first.repeats and [n for _, n in c.segments] == [n for _, n in first.segments]
                       for c in ins)
            if not same:
                return self._unknown(layer, ins, outputs, "whose inputs' channels do not line up")
            for other in ins[1:]:
                for (a, _), (b, _) in zip(first.segments, other.segments, strict=True):
                    self._union(a, b)
            return [first]
        if kind is L.Concatenate and len(outputs) == 1 and layer.axis in (-1, len(outputs[0].shape) - 1) and all(
                c.repeats == 1 for c in ins):
            return [Channels(tuple(s for c in ins for s in c.segments))]
        return self._unknown(layer, ins, outputs, unknown)

    def _collect(self) -> dict[int, ChannelGroup]:
        groups: dict[int, ChannelGroup] = {}
        for token in range(len(self._parent)):
            root = self.find(token)
            if token in self._source_of or token in self._members:
                group = groups.setdefault(root, ChannelGroup("", self._length[token], [], []))
                if token in self._source_of:
                    group.sources.append(self._source_of[token])
                group.members.extend(m for m in self._members.get(token, []) if m not in group.members)
        for root, group in list(groups.items()):
            if not group.sources:  # the model's input or an unknown layer's output: nothing to prune
                del groups[root]
                continue
            group.name = group.sources[0]
            group.reason = self._reason.get(root)
        return groups


def _last(tensor: Any) -> int:
    """The tensor's last dimension (0 when unknown)."""
    return int(tensor.shape[-1]) if tensor.shape and tensor.shape[-1] is not None else 0
