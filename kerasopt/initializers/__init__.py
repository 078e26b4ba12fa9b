"""Initializers: data-independent ones and data-dependent ones (LSUV) applied to built models.

Keras's Glorot, He, LeCun, Orthogonal and VarianceScaling initializers stay in
`keras.initializers` and are reachable from recipes by their Keras names.
"""

from kerasopt.initializers.delta_orthogonal import DeltaOrthogonal as DeltaOrthogonal
from kerasopt.initializers.lsuv import LSUV as LSUV
from kerasopt.initializers.lsuv import lsuv_initialize as lsuv_initialize
from kerasopt.initializers.torch_default import TorchDefault as TorchDefault
from kerasopt.initializers.torch_default import TorchDefaultBias as TorchDefaultBias

__all__ = ["LSUV", "DeltaOrthogonal", "TorchDefault", "TorchDefaultBias", "lsuv_initialize"]
