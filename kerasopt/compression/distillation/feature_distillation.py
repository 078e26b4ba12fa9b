"""`FeatureDistillation`: match an intermediate student layer to a teacher layer (FitNets)."""

from __future__ import annotations

from typing import Any

import keras
from keras import ops

from kerasopt.compression.distillation import _checks
from kerasopt.compression.distillation.feature_adapter import FeatureAdapter
from kerasopt.registry import register
from kerasopt.schedules._common import check_choice, check_number

PROJECTIONS = ("auto", "always", "never")
"""When a :class:`FeatureDistillation` puts a trainable projection on the student's features."""


@register("distillation_strategy")
class FeatureDistillation(keras.distillation.DistillationLoss):
    """Pull a student layer's output towards a teacher layer's output: mean squared error.

    FitNets' hint loss (Romero et al. 2015, "FitNets: Hints for Thin Deep Nets", eq. 2,
    averaged instead of halved and summed):

        L = mean((r(h_s) − h_t)²),

    with `h_s` the output of `student_layer`, `h_t` that of `teacher_layer` (a constant:
    no gradient reaches the teacher) and `r` a :class:`FeatureAdapter` made by
    :meth:`adapter_for` and trained with the student: a `Dense` (vectors) or 1x1
    convolution (sequences, maps) to the teacher's width when the widths differ (or
    always, with `projection="always"`), and a bilinear resize to the teacher's spatial
    or temporal size when those differ (sequences and 2D maps). The adapter lives in the
    :class:`Distiller`, so the exported student never contains it.

    Unlike `keras.distillation.FeatureDistillation`, which fails inside `fit` when the two
    layers differ in width, this strategy adapts the shapes and checks them when the
    distiller is built, naming the layers.

    Layers are looked up among the top-level layers of each model, by their name or by the
    name of the layer a wrapper holds (so `"dense"` finds `prune_low_magnitude_dense` in
    a pruned student).

    Args:
        student_layer: Name of the student layer whose output is matched.
        teacher_layer: Name of the teacher layer giving the target.
        weight: This strategy's weight in the distillation loss, >= 0. Defaults to `1.0`.
        projection: `"auto"` (project only when the channel counts differ), `"always"`
            (FitNets' regressor even at equal widths) or `"never"` (refuse different
            widths). Defaults to `"auto"`.

    Raises:
        ValueError: For an empty layer name, a negative weight or an unknown `projection`.

    Example:
        >>> adapter = FeatureDistillation("s_hidden", "t_hidden").adapter_for((None, 16), (None, 64))
        >>> adapter.width, adapter.size
        (64, None)
    """

    def __init__(self, student_layer: str, teacher_layer: str, weight: float = 1.0,
                 projection: str = "auto") -> None:
        _checks.check_layer_name("student_layer", student_layer)
        _checks.check_layer_name("teacher_layer", teacher_layer)
        check_number("weight", weight, low=0.0)
        check_choice("projection", projection, PROJECTIONS)
        self.student_layer = student_layer
        self.teacher_layer = teacher_layer
        self.weight = weight
        self.projection = projection

    def adapter_for(self, student_shape: tuple[Any, ...], teacher_shape: tuple[Any, ...],
                    name: str | None = None) -> FeatureAdapter:
        """Return an unbuilt :class:`FeatureAdapter` mapping student features onto the teacher's.

        Args:
            student_shape: Shape of the student layer's output (batch axis first).
            teacher_shape: Shape of the teacher layer's output.
            name: The adapter layer's name. Defaults to `None` (Keras picks one).

        Returns:
            The adapter (identity when the shapes already match and `projection` is not
            `"always"`).

        Raises:
            ValueError: When the ranks differ, widths differ with `projection="never"`, or
                spatial dimensions differ and cannot be resized (unknown, or rank other
                than 3 and 4); the message names both layers and shapes.
        """
        student_shape, teacher_shape = tuple(student_shape), tuple(teacher_shape)
        pair = (f"student layer {self.student_layer!r} (shape {student_shape}) and teacher layer "
                f"{self.teacher_layer!r} (shape {teacher_shape})")
        if len(student_shape) != len(teacher_shape) or len(student_shape) < 2:
            raise ValueError(f"Feature distillation needs outputs of the same rank, with channels last; "
                             f"{pair} differ. Pick layers of the same kind (two vectors, two sequences "
                             "or two feature maps).")
        width = teacher_shape[-1]
        if width is None:
            raise ValueError(f"Feature distillation needs a known channel count; {pair}.")
        project = self.projection == "always" or student_shape[-1] != width
        if project and self.projection == "never":
            raise ValueError(f"Feature distillation with projection='never' needs equal widths; {pair}. "
                             "Use projection='auto' to learn a projection.")
        size = None
        if student_shape[1:-1] != teacher_shape[1:-1]:
            if any(d is None for d in student_shape[1:-1] + teacher_shape[1:-1]):
                raise ValueError(f"Feature distillation cannot resize dimensions that are unknown until "
                                 f"run time; {pair}. Give the models fixed input shapes.")
            if len(student_shape) not in (3, 4):
                raise ValueError(f"Feature distillation resizes sequences (rank 3) and 2D maps (rank 4) "
                                 f"only; {pair} have different spatial dimensions.")
            size = list(teacher_shape[1:-1])
        return FeatureAdapter(width=width if project else None, size=size, name=name)

    def compute_loss(self, teacher_outputs: Any, student_outputs: Any, **kwargs: Any) -> Any:
        """Return `mean((student − teacher)²)` of already adapted student features.

        Args:
            teacher_outputs: The teacher layer's output.
            student_outputs: The student layer's output after its adapter (same shape).
            **kwargs: Ignored (the `keras.distillation.DistillationLoss` signature).

        Returns:
            A float32 scalar.
        """
        teacher = ops.stop_gradient(ops.cast(teacher_outputs, "float32"))
        return ops.mean(ops.square(ops.cast(student_outputs, "float32") - teacher))

    def get_config(self) -> dict[str, Any]:
        """Return the constructor arguments."""
        return {"student_layer": self.student_layer, "teacher_layer": self.teacher_layer,
                "weight": self.weight, "projection": self.projection}

    @classmethod
    def from_config(cls, config: dict[str, Any]) -> FeatureDistillation:
        """Rebuild the strategy from `get_config()`."""
        return cls(**config)
