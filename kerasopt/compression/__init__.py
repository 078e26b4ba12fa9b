"""Compression techniques, each in its own folder with a method card.

Channel pruning's functional form is also reachable here (imported on first use, so that
importing a submodule stays light): `kerasopt.compression.prune_channels`,
`plan_channels`, `apply_plan` and `ChannelPlan`, from
:mod:`kerasopt.compression.channel_pruning`.
"""

from __future__ import annotations

from typing import Any

_CHANNEL_PRUNING = ("ChannelPlan", "apply_plan", "plan_channels", "prune_channels")

__all__ = list(_CHANNEL_PRUNING)


def __getattr__(name: str) -> Any:
    if name in _CHANNEL_PRUNING:
        from kerasopt.compression import channel_pruning

        return getattr(channel_pruning, name)
    raise AttributeError(f"module 'kerasopt.compression' has no attribute {name!r}")
