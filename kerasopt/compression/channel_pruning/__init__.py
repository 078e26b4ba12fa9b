"""Channel pruning that rebuilds a smaller dense model (structured, dependency-aware).

See `README.md` in this folder for the method card.
"""

from kerasopt.compression.channel_pruning.graph import ChannelGraph as ChannelGraph
from kerasopt.compression.channel_pruning.graph import ChannelGroup as ChannelGroup
from kerasopt.compression.channel_pruning.plan import ChannelPlan as ChannelPlan
from kerasopt.compression.channel_pruning.plan import kept_count as kept_count
from kerasopt.compression.channel_pruning.prune_channels import apply_plan as apply_plan
from kerasopt.compression.channel_pruning.prune_channels import plan_channels as plan_channels
from kerasopt.compression.channel_pruning.prune_channels import prune_channels as prune_channels

__all__ = ["ChannelGraph", "ChannelGroup", "ChannelPlan", "apply_plan", "kept_count", "plan_channels",
           "prune_channels"]
