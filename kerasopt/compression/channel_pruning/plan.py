"""Which channels stay: kept counts per group (per layer or global) and the kept indices.

**Kept count** of a group of `n` channels at `ratio` (scope `layer`):
`kept = max(1, n - floor(ratio * n))` (at least one channel always stays), then rounded *up*
to a multiple of `round_to` (never above `n`). `floor` is taken after adding 1e-9, so that
`0.29 * 100` prunes 29 channels, not 28.

**Scope `global`**: each group's scores are divided by their mean (groups of wide and narrow
layers are then comparable, as Torch-Pruning's mean normalizer makes them), and the
`floor(ratio * N)` channels with the lowest normalized scores over all pruned groups (`N`
channels in all) are removed, except that a group never drops below one channel; each
group's count is then rounded up to `round_to` as above.

**Kept indices**: the `kept` channels with the highest scores (ties: the lower index
stays), in increasing order.
"""

from __future__ import annotations

import dataclasses
import math
from typing import Any

import numpy as np

from kerasopt.compression.channel_pruning.graph import ChannelGroup


def kept_count(channels: int, ratio: float, round_to: int = 1) -> int:
    """How many of `channels` stay at `ratio` (see the module docstring).

    Example:
        >>> kept_count(16, 0.5), kept_count(10, 0.75), kept_count(3, 0.9), kept_count(20, 0.5, round_to=8)
        (8, 3, 1, 16)
    """
    kept = max(1, channels - math.floor(ratio * channels + 1e-9))
    return min(channels, -(-kept // round_to) * round_to)


def _top(scores: np.ndarray, kept: int) -> list[int]:
    order = np.argsort(-scores, kind="stable")[:kept]
    return sorted(int(i) for i in order)


def choose(scores: dict[str, np.ndarray], ratio: float, scope: str, round_to: int) -> dict[str, list[int]]:
    """The kept indices of each group (by name) from its channel scores."""
    if scope == "layer":
        return {name: _top(s, kept_count(len(s), ratio, round_to)) for name, s in scores.items()}
    kept = {name: len(s) for name, s in scores.items()}
    candidates = []
    for order, (name, s) in enumerate(scores.items()):
        mean = float(s.mean())
        normalized = s / mean if mean > 0 else np.ones_like(s)
        candidates += [(float(v), order, i, name) for i, v in enumerate(normalized)]
    to_prune = math.floor(ratio * sum(kept.values()) + 1e-9)
    for _, _, _, name in sorted(candidates):
        if to_prune == 0:
            break
        if kept[name] > 1:
            kept[name] -= 1
            to_prune -= 1
    return {name: _top(s, min(len(s), -(-kept[name] // round_to) * round_to)) for name, s in scores.items()}


@dataclasses.dataclass
class ChannelPlan:
    """What channel pruning keeps: a plan :func:`apply_plan` rebuilds a model from.

    Attributes:
        keep: `group name -> kept channel indices` of every pruned group (a group is named
            after its first channel source). JSON-ready: store it to rebuild the same model.
        groups: Every channel group of the model, pruned or not (with the reason when it
            cannot be).
    """

    keep: dict[str, list[int]]
    groups: list[ChannelGroup] = dataclasses.field(default_factory=list)

    def kept_channels(self) -> dict[str, dict[str, int]]:
        """`layer name -> {"before": n, "after": kept}` of every channel source."""
        found = {}
        for group in self.groups:
            after = len(self.keep[group.name]) if group.name in self.keep else group.channels
            for source in group.sources:
                found[source] = {"before": group.channels, "after": after}
        return found

    def unprunable(self) -> dict[str, str]:
        """`group name -> reason` of the groups that cannot be pruned."""
        return {g.name: g.reason for g in self.groups if g.reason is not None}

    def to_dict(self) -> dict[str, Any]:
        """The plan as JSON-ready data (`keep`, `kept_channels`, `unprunable`)."""
        return {"keep": self.keep, "kept_channels": self.kept_channels(), "unprunable": self.unprunable()}
