"""Training helpers: a train step that serves optimizers needing a second gradient or an HVP."""

from kerasopt.training.batch_norm import (
    recompute_batch_norm_statistics as recompute_batch_norm_statistics,
)
from kerasopt.training.closure import Closure as Closure
from kerasopt.training.closure import enable_closure as enable_closure

__all__ = ["Closure", "enable_closure", "recompute_batch_norm_statistics"]
