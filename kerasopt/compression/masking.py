"""Fixed zero patterns on weights: the mechanism pruning, QAT and clustering share.

A mask is a non-trainable variable of 0s and 1s with the weight's shape. Attaching it sets
the weight's `constraint` to multiply by the mask, and Keras 3 optimizers apply a
variable's constraint after every update, so a masked entry stays exactly zero whatever
the optimizer's state holds (momentum, Adam moments). The mask itself is ordinary layer
state: it is saved in checkpoints and `.keras` files by the layer that owns it.
"""

from __future__ import annotations

from typing import Any

import keras


class MaskConstraint(keras.constraints.Constraint):
    """Multiply a weight by a mask variable, after any constraint it already had.

    Not registered for serialization on purpose: it is set on a *variable* by
    :func:`attach_mask`, never in a layer's config; the layer that owns the mask variable
    re-attaches it when it is rebuilt.

    Args:
        mask: The mask variable (same shape as the constrained weight).
        previous: The weight's constraint before the mask was attached, applied first.
            Defaults to `None`.
    """

    def __init__(self, mask: Any, previous: Any = None) -> None:
        self.mask = mask
        self.previous = previous

    def __call__(self, w: Any) -> Any:
        if self.previous is not None:
            w = self.previous(w)
        return keras.ops.multiply(w, keras.ops.cast(self.mask, w.dtype))


def attach_mask(weight: Any, mask: Any) -> None:
    """Keep `weight` zero wherever `mask` is zero, through every later optimizer update.

    Applies the mask once now, then sets the weight's constraint (keeping any earlier
    constraint, which runs first). Attaching again replaces the earlier mask.

    Args:
        weight: A Keras variable (a layer's kernel).
        mask: A variable or array of 0s and 1s of the same shape.

    Raises:
        ValueError: If the shapes differ.
    """
    if tuple(mask.shape) != tuple(weight.shape):
        raise ValueError(f"The mask's shape must equal the weight's. Received: mask shape "
                         f"{tuple(mask.shape)} for weight {weight.path!r} of shape {tuple(weight.shape)}")
    previous = weight.constraint
    if isinstance(previous, MaskConstraint):
        previous = previous.previous
    weight.constraint = MaskConstraint(mask, previous)
    weight.assign(weight.constraint(weight))


def detach_mask(weight: Any) -> None:
    """Remove a mask attached by :func:`attach_mask`, restoring the earlier constraint."""
    if isinstance(weight.constraint, MaskConstraint):
        weight.constraint = weight.constraint.previous
