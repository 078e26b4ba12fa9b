"""Optimizers: Keras 3 `Optimizer` subclasses and wrappers around any optimizer.

Keras's own optimizers (Adam, AdamW, Lamb, Lion, Muon, ...) stay in `keras.optimizers`
and are reachable from recipes by their Keras names.
"""

from kerasopt.optimizers.ada_belief import AdaBelief as AdaBelief
from kerasopt.optimizers.ada_hessian import AdaHessian as AdaHessian
from kerasopt.optimizers.conjugate_gradient import ConjugateGradient as ConjugateGradient
from kerasopt.optimizers.gradient_centralization import (
    GradientCentralization as GradientCentralization,
)
from kerasopt.optimizers.lars import LARS as LARS
from kerasopt.optimizers.lazy_adam import LazyAdam as LazyAdam
from kerasopt.optimizers.lbfgs import LBFGS as LBFGS
from kerasopt.optimizers.lookahead import Lookahead as Lookahead
from kerasopt.optimizers.novo_grad import NovoGrad as NovoGrad
from kerasopt.optimizers.rectified_adam import RectifiedAdam as RectifiedAdam
from kerasopt.optimizers.rprop import Rprop as Rprop
from kerasopt.optimizers.sam import SAM as SAM
from kerasopt.optimizers.swa import SWA as SWA
from kerasopt.optimizers.yogi import Yogi as Yogi

RAdam = RectifiedAdam

__all__ = [
    "LARS", "LBFGS", "SAM", "SWA", "AdaBelief", "AdaHessian", "ConjugateGradient",
    "GradientCentralization", "LazyAdam", "Lookahead", "NovoGrad", "RAdam", "RectifiedAdam",
    "Rprop", "Yogi",
]
