"""Learning-rate schedules: `keras.optimizers.schedules.LearningRateSchedule` subclasses.

Keras's own schedules (CosineDecay, ExponentialDecay, PiecewiseConstantDecay, ...) stay in
`keras.optimizers.schedules` and are reachable from recipes by their Keras names.
"""

from kerasopt.schedules.cyclical import Cyclical as Cyclical
from kerasopt.schedules.inverse_sqrt import InverseSqrt as InverseSqrt
from kerasopt.schedules.one_cycle import OneCycle as OneCycle
from kerasopt.schedules.polynomial_with_offset import PolynomialWithOffset as PolynomialWithOffset
from kerasopt.schedules.power import Power as Power
from kerasopt.schedules.warmup import Warmup as Warmup
from kerasopt.schedules.warmup_stable_decay import WarmupStableDecay as WarmupStableDecay

__all__ = [
    "Cyclical", "InverseSqrt", "OneCycle", "PolynomialWithOffset", "Power", "Warmup",
    "WarmupStableDecay",
]
