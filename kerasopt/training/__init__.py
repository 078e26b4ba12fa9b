"""Training helpers: a train step that serves optimizers needing a second gradient or an HVP,
an EMA of the weights, batch-norm statistics for averaged weights."""

from kerasopt.training.batch_norm import (
    recompute_batch_norm_statistics as recompute_batch_norm_statistics,
)
from kerasopt.training.closure import Closure as Closure
from kerasopt.training.closure import enable_closure as enable_closure
from kerasopt.training.ema import ema_momentum as ema_momentum
from kerasopt.training.ema import enable_ema as enable_ema

__all__ = ["Closure", "ema_momentum", "enable_closure", "enable_ema", "recompute_batch_norm_statistics"]
