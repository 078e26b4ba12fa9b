"""Gradient Centralization (Yong et al., 2020)."""

from __future__ import annotations

from typing import Any

from keras import ops

from kerasopt.optimizers._sparse import densify
from kerasopt.optimizers._wrapper import OptimizerWrapper
from kerasopt.registry import register


@register("optimizer", aliases=["gc", "gradient_centralization"])
class GradientCentralization(OptimizerWrapper):
    """Wraps any optimizer and centralizes the gradients of weight matrices and kernels.

    Implements Gradient Centralization from Yong, Huang, Hua and Zhang, "Gradient
    Centralization: A New Optimization Technique for Deep Neural Networks" (ECCV 2020),
    Section 3.2, eq. (4): for every gradient of rank > 1, the mean over all axes but the
    last one is subtracted,

        Phi_GC(g) = g - mean(g, axes=all but the output axis)

    Keras kernels keep output units/channels on the last axis (Dense `(in, out)`, Conv2D
    `(kh, kw, in, out)`), so this is the paper's mean over each output's fan-in; gradients of
    rank <= 1 (biases, normalization scales) pass through unchanged. The centralized
    gradients go to the inner optimizer, whose clipping and weight decay act afterwards (the
    paper embeds GC before the optimizer's own update, Algorithms 1 and 2).

    Args:
        optimizer: The inner optimizer: a `keras.optimizers.Optimizer`, a registered name,
            a recipe spec or a Keras serialized config.
        name: Name of the optimizer. Defaults to `None` (an automatic name).

    Raises:
        ValueError: If `optimizer` cannot be resolved.

    Example:
        ```python
        optimizer = GradientCentralization(keras.optimizers.SGD(0.1, momentum=0.9))
        model.compile(optimizer=optimizer, loss="sparse_categorical_crossentropy")
        ```
    """

    def __init__(self, optimizer: Any, name: str | None = None) -> None:
        super().__init__(optimizer, name=name)

    def _transform_gradients(self, grads: list[Any], variables: list[Any]) -> list[Any]:
        return [centralize(densify(grad)) for grad in grads]


def centralize(grad: Any) -> Any:
    """Subtract the mean over all axes but the last from a gradient of rank > 1."""
    if grad is None or len(grad.shape) <= 1:
        return grad
    axes = tuple(range(len(grad.shape) - 1))
    return grad - ops.mean(grad, axis=axes, keepdims=True)
