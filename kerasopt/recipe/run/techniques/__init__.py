"""Techniques that plug into a run through the hooks of :class:`Technique`.

The run creates one instance of every class in :data:`TECHNIQUES` and calls each hook on
all of them in this order, with the run's :class:`TechniqueState`; a technique that has
nothing to do at a hook does nothing.
"""

from __future__ import annotations

from kerasopt.recipe.run.techniques.callback_context import ProbeBatch as ProbeBatch
from kerasopt.recipe.run.techniques.channel_pruning import ChannelPruning as ChannelPruning
from kerasopt.recipe.run.techniques.closure import ClosureTrainStep as ClosureTrainStep
from kerasopt.recipe.run.techniques.clustering import WeightClustering as WeightClustering
from kerasopt.recipe.run.techniques.distillation import (
    KnowledgeDistillation as KnowledgeDistillation,
)
from kerasopt.recipe.run.techniques.ema import WeightEMA as WeightEMA
from kerasopt.recipe.run.techniques.lora import LoRAFineTuning as LoRAFineTuning
from kerasopt.recipe.run.techniques.low_rank import LowRankFactorization as LowRankFactorization
from kerasopt.recipe.run.techniques.lsuv import LSUVInitialization as LSUVInitialization
from kerasopt.recipe.run.techniques.pruning import Pruning as Pruning
from kerasopt.recipe.run.techniques.quantization import (
    QuantizationAwareTraining as QuantizationAwareTraining,
)
from kerasopt.recipe.run.techniques.state import TechniqueState as TechniqueState
from kerasopt.recipe.run.techniques.technique import Technique as Technique
from kerasopt.recipe.run.techniques.weight_averaging import WeightAveraging as WeightAveraging

TECHNIQUES: tuple[type[Technique], ...] = (
    LSUVInitialization,
    # Compression, in the order its stages compose: pruning's wrappers are stripped (zeros
    # kept) before clustering or QAT wrap the same layers.
    LowRankFactorization,
    Pruning,
    ChannelPruning,  # rebuilds the model smaller; before the wrappers of later stages
    WeightClustering,
    QuantizationAwareTraining,
    KnowledgeDistillation,  # after the others: it wraps the model they have prepared
    ClosureTrainStep,
    ProbeBatch,
    WeightAveraging,
    WeightEMA,
    LoRAFineTuning,  # last: its `before_export` merges the factors of the model the others left
)
"""Every technique a run consults, in hook order."""

__all__ = ["TECHNIQUES", "ChannelPruning", "ClosureTrainStep", "KnowledgeDistillation", "LSUVInitialization",
           "LoRAFineTuning", "LowRankFactorization", "ProbeBatch", "Pruning", "QuantizationAwareTraining",
           "Technique", "TechniqueState", "WeightAveraging", "WeightClustering", "WeightEMA"]
