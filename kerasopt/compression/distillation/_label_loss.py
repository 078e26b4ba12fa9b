"""The label loss of a `Distiller`: one Keras loss on the student's output.

Private to `kerasopt.compression.distillation`.
"""

from __future__ import annotations

from typing import Any

import keras


class _FunctionLoss(keras.losses.Loss):
    """A loss function `(y_true, y_pred) -> per-sample losses` with Keras's reduction."""

    def __init__(self, fn: Any) -> None:
        super().__init__(name=getattr(fn, "__name__", "label_loss"))
        self.fn = fn

    def call(self, y_true: Any, y_pred: Any) -> Any:
        return self.fn(y_true, y_pred)


class LabelLoss:
    """Resolve a `compile(loss=...)` value once and apply it with sample weights.

    Args:
        spec: A Keras loss name, serialized loss, `keras.losses.Loss` or function.

    Raises:
        ValueError: For None, a structure of losses (several outputs) or an unknown name.
    """

    def __init__(self, spec: Any) -> None:
        if isinstance(spec, (list, tuple, dict)) and not (isinstance(spec, dict) and "class_name" in spec):
            raise ValueError("Distiller.compile takes one label loss for the student's single output. "
                             f"Received: loss={spec!r}")
        loss = keras.losses.get(spec)
        if loss is None:
            raise ValueError(f"Unknown label loss. Received: loss={spec!r}")
        self.spec = spec
        self.loss = loss if isinstance(loss, keras.losses.Loss) else _FunctionLoss(loss)

    def __call__(self, y_true: Any, y_pred: Any, sample_weight: Any = None) -> Any:
        return self.loss(y_true, y_pred, sample_weight=sample_weight)

    def serialized(self) -> Any:
        """The loss as it goes into a compile config."""
        return keras.losses.serialize(self.spec) if not isinstance(self.spec, str) else self.spec
