"""Losses Keras lacks: smoothed cross-entropy on integer labels."""

from kerasopt.losses.smoothed_sparse_crossentropy import (
    SmoothedSparseCategoricalCrossentropy as SmoothedSparseCategoricalCrossentropy,
)

__all__ = ["SmoothedSparseCategoricalCrossentropy"]
