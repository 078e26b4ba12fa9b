"""Magnitude pruning for Keras 3 models: schedules, a layer wrapper, a callback, strip and summary.

See `README.md` in this folder for the method card.
"""

from kerasopt.compression.pruning.constant_sparsity import ConstantSparsity as ConstantSparsity
from kerasopt.compression.pruning.polynomial_decay import PolynomialDecay as PolynomialDecay
from kerasopt.compression.pruning.prune import prune_low_magnitude as prune_low_magnitude
from kerasopt.compression.pruning.pruning_schedule import PruningSchedule as PruningSchedule
from kerasopt.compression.pruning.pruning_wrapper import PruneLowMagnitude as PruneLowMagnitude
from kerasopt.compression.pruning.strip import strip_pruning as strip_pruning
from kerasopt.compression.pruning.summary import pruning_summary as pruning_summary
from kerasopt.compression.pruning.update_pruning import UpdatePruning as UpdatePruning

__all__ = [
    "ConstantSparsity", "PolynomialDecay", "PruneLowMagnitude", "PruningSchedule",
    "UpdatePruning", "prune_low_magnitude", "pruning_summary", "strip_pruning",
]
