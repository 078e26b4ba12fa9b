"""`LogitsDistillation`: match the teacher's softened class distribution (Hinton et al. 2015)."""

from __future__ import annotations

from typing import Any

import keras
from keras import ops

from kerasopt.compression.distillation import _checks
from kerasopt.registry import register
from kerasopt.schedules._common import check_number


@register("distillation_strategy")
class LogitsDistillation(keras.distillation.DistillationLoss):
    """Distill the teacher's output distribution at a temperature: KL divergence times T².

    With teacher logits `t`, student logits `s` (the last axis holds the classes) and
    temperature `T`, per sample

        L = T² · Σ_c p_c · (log p_c − log q_c),  p = softmax(t / T),  q = softmax(s / T),

    i.e. `T² · KL(p || q)`, averaged over the samples (and any other leading axes). The T²
    factor keeps the gradient magnitude of the soft targets roughly independent of `T`
    (Hinton, Vinyals & Dean 2015, "Distilling the Knowledge in a Neural Network",
    section 2), so `T` can change without retuning the loss weights. Both log-softmaxes
    are computed stably from logits; nothing is clipped.

    This is the loss `keras.distillation.LogitsDistillation` computes with its default KL
    loss; kerasopt's version adds a temperature schedule and a per-strategy weight, and
    works with models that output probabilities: :class:`Distiller` hands every
    strategy logits, taking the log of softmax outputs, which is exact because softmax is
    invariant to a per-sample shift of its input (see `Distiller`).

    The temperature may follow a schedule of the training step (the distiller's
    optimizer iterations), e.g. `keras.optimizers.schedules.PolynomialDecay(4.0, 1000,
    1.0)` decays it from 4 to 1 over 1000 steps; the T² factor uses the current value.
    A schedule must stay > 0 (only step 0 is checked here).

    Args:
        temperature: The softmax temperature `T` > 0, or a
            `keras.optimizers.schedules.LearningRateSchedule` giving it per step.
            Defaults to `4.0`.
        weight: This strategy's weight in the distillation loss (the distiller sums the
            weighted strategy losses), >= 0. Defaults to `1.0`.

    Raises:
        ValueError: If `temperature` <= 0 (or a schedule starts <= 0) or `weight` < 0.

    Example:
        >>> import numpy as np
        >>> loss = LogitsDistillation(temperature=2.0)
        >>> t = np.array([[2.0, 0.0, -2.0]], "float32")
        >>> # against uniform student logits: 2² · (log 3 − entropy(softmax([1, 0, −1])))
        >>> round(float(loss.compute_loss(t, t)), 6), round(float(loss.compute_loss(t, 0 * t)), 4)
        (0.0, 1.0649)
    """

    def __init__(self, temperature: float | keras.optimizers.schedules.LearningRateSchedule = 4.0,
                 weight: float = 1.0) -> None:
        _checks.check_scheduled("temperature", temperature, low=0.0, low_open=True)
        check_number("weight", weight, low=0.0)
        self.temperature = temperature
        self.weight = weight

    def temperature_at(self, step: Any) -> Any:
        """The temperature at a training step (a float, or a float32 tensor for a schedule)."""
        return _checks.value_at(self.temperature, step)

    def validate_outputs(self, teacher_outputs: Any, student_outputs: Any) -> None:
        """Require teacher and student logits of the same shape (the same classes)."""
        t_shape, s_shape = tuple(teacher_outputs.shape), tuple(student_outputs.shape)
        if len(t_shape) != len(s_shape) or any(
                a is not None and b is not None and a != b for a, b in zip(t_shape[1:], s_shape[1:], strict=True)):
            raise ValueError(
                f"Logits distillation needs teacher and student outputs of the same shape (the same "
                f"classes on the last axis). Received: teacher output shape {t_shape}, student output "
                f"shape {s_shape}.")

    def compute_loss(self, teacher_outputs: Any, student_outputs: Any, step: Any = 0,
                     **kwargs: Any) -> Any:
        """Return `T² · mean KL(softmax(t/T) || softmax(s/T))` for logits `t`, `s`.

        Args:
            teacher_outputs: Teacher logits, classes on the last axis.
            student_outputs: Student logits of the same shape.
            step: The training step at which to read a temperature schedule. Defaults to `0`.
            **kwargs: Ignored (the `keras.distillation.DistillationLoss` signature).

        Returns:
            A float32 scalar.
        """
        temperature = self.temperature_at(step)
        log_p = ops.log_softmax(ops.cast(teacher_outputs, "float32") / temperature, axis=-1)
        log_q = ops.log_softmax(ops.cast(student_outputs, "float32") / temperature, axis=-1)
        kl = ops.sum(ops.exp(log_p) * (log_p - log_q), axis=-1)
        return ops.mean(kl) * ops.square(temperature)

    def get_config(self) -> dict[str, Any]:
        """Return the constructor arguments (a schedule serialized)."""
        return {"temperature": _checks.serialize_scheduled(self.temperature), "weight": self.weight}

    @classmethod
    def from_config(cls, config: dict[str, Any]) -> LogitsDistillation:
        """Rebuild the strategy from `get_config()`."""
        config = dict(config)
        config["temperature"] = _checks.deserialize_scheduled(config["temperature"])
        return cls(**config)
