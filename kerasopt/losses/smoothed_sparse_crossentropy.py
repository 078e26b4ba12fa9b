"""`SmoothedSparseCategoricalCrossentropy`: label smoothing for integer labels.

Keras's `SparseCategoricalCrossentropy` has no `label_smoothing`; its
`CategoricalCrossentropy` has, but needs one-hot labels. This loss one-hot encodes the
integer labels over the head's `K` units and hands them to Keras's own
`categorical_crossentropy(..., label_smoothing=eps)`, so the targets are
`(1 - eps) * one_hot + eps / K` and the loss is
`(1 - eps) * CE(one_hot) + eps * mean_k(-log p_k)`.
"""

from __future__ import annotations

from typing import Any

import keras
from keras import ops

from kerasopt.registry import register


@register("loss")
class SmoothedSparseCategoricalCrossentropy(keras.losses.Loss):
    """Sparse categorical cross-entropy with label smoothing.

    Args:
        label_smoothing: `eps` in [0, 1): the weight moved from the true class to the
            uniform distribution over the `K` classes. Defaults to `0.0` (plain sparse
            categorical cross-entropy).
        from_logits: Whether `y_pred` holds logits rather than probabilities. Defaults
            to `False`.
        axis: The class axis of `y_pred`. Defaults to `-1`.
        reduction: As Keras losses take it. Defaults to `"sum_over_batch_size"`.
        name: The loss's name. Defaults to `"smoothed_sparse_categorical_crossentropy"`.
        dtype: As Keras losses take it. Defaults to `None`.

    Example:
        >>> import numpy as np
        >>> loss = SmoothedSparseCategoricalCrossentropy(label_smoothing=0.1)
        >>> round(float(loss(np.array([0]), np.array([[0.5, 0.5]]))), 4)
        0.6931
    """

    def __init__(self, label_smoothing: float = 0.0, from_logits: bool = False, axis: int = -1,
                 reduction: str = "sum_over_batch_size",
                 name: str = "smoothed_sparse_categorical_crossentropy", dtype: Any = None) -> None:
        if not 0.0 <= float(label_smoothing) < 1.0:
            raise ValueError(f"`label_smoothing` must be in [0, 1). Received: {label_smoothing!r}")
        super().__init__(name=name, reduction=reduction, dtype=dtype)
        self.label_smoothing = float(label_smoothing)
        self.from_logits = bool(from_logits)
        self.axis = axis

    def call(self, y_true: Any, y_pred: Any) -> Any:
        """The per-sample smoothed cross-entropy of integer labels `y_true` (`(n,)` or `(n, 1)`)."""
        y_pred = ops.convert_to_tensor(y_pred)
        y_true = ops.convert_to_tensor(y_true)
        if len(y_true.shape) == len(y_pred.shape) and y_true.shape[-1] == 1:
            y_true = ops.squeeze(y_true, axis=-1)
        one_hot = ops.one_hot(ops.cast(y_true, "int32"), y_pred.shape[self.axis], axis=self.axis,
                              dtype=y_pred.dtype)
        return keras.losses.categorical_crossentropy(
            one_hot, y_pred, from_logits=self.from_logits,
            label_smoothing=self.label_smoothing, axis=self.axis)

    def get_config(self) -> dict[str, Any]:
        """The constructor arguments, for `.keras` files."""
        return {**super().get_config(), "label_smoothing": self.label_smoothing,
                "from_logits": self.from_logits, "axis": self.axis}
