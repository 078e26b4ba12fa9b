"""Compression techniques, each in its own folder with a method card.

Some functional forms are also reachable here, imported on first use (importing the
package imports no Keras): :func:`factorize_low_rank` and :func:`low_rank_plan` (from
:mod:`kerasopt.compression.low_rank`); `prune_channels`, `plan_channels`, `apply_plan`
and `ChannelPlan` (from :mod:`kerasopt.compression.channel_pruning`).
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from kerasopt.compression.channel_pruning import ChannelPlan as ChannelPlan
    from kerasopt.compression.channel_pruning import apply_plan as apply_plan
    from kerasopt.compression.channel_pruning import plan_channels as plan_channels
    from kerasopt.compression.channel_pruning import prune_channels as prune_channels
    from kerasopt.compression.low_rank import factorize_low_rank as factorize_low_rank
    from kerasopt.compression.low_rank import low_rank_plan as low_rank_plan

_WHERE = {"factorize_low_rank": "low_rank", "low_rank_plan": "low_rank", "ChannelPlan": "channel_pruning",
          "apply_plan": "channel_pruning", "plan_channels": "channel_pruning", "prune_channels": "channel_pruning"}
__all__ = sorted(_WHERE)


def __getattr__(name: str) -> Any:
    if name not in _WHERE:
        raise AttributeError(f"module 'kerasopt.compression' has no attribute {name!r}")
    return getattr(importlib.import_module(f"kerasopt.compression.{_WHERE[name]}"), name)
