"""Knowledge distillation for Keras 3: logits and feature strategies, a Distiller model, `distill`.

See `README.md` in this folder for the method card.
"""

from kerasopt.compression.distillation.distill import distill as distill
from kerasopt.compression.distillation.distiller import Distiller as Distiller
from kerasopt.compression.distillation.feature_adapter import FeatureAdapter as FeatureAdapter
from kerasopt.compression.distillation.feature_distillation import (
    FeatureDistillation as FeatureDistillation,
)
from kerasopt.compression.distillation.logits_distillation import (
    LogitsDistillation as LogitsDistillation,
)

__all__ = ["Distiller", "FeatureAdapter", "FeatureDistillation", "LogitsDistillation", "distill"]
