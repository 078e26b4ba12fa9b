"""`distill`: the functional form, a `Distiller` from plain settings (what recipes give)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import keras

from kerasopt.compression.distillation.distiller import Distiller
from kerasopt.compression.distillation.feature_distillation import FeatureDistillation
from kerasopt.compression.distillation.logits_distillation import LogitsDistillation
from kerasopt.schedules._common import check_number

_FEATURE_KEYS = ("student_layer", "teacher_layer", "weight", "projection")


def _feature(item: Any, weight: float, projection: str) -> FeatureDistillation:
    if isinstance(item, FeatureDistillation):
        return item
    if isinstance(item, Mapping):
        unknown = sorted(set(item) - set(_FEATURE_KEYS))
        if unknown or "student_layer" not in item or "teacher_layer" not in item:
            raise ValueError(f"A `features` entry needs keys student_layer and teacher_layer (optional: "
                             f"weight, projection). Received: {dict(item)!r}")
        return FeatureDistillation(**{"weight": weight, "projection": projection, **item})
    if (isinstance(item, Sequence) and not isinstance(item, str) and len(item) == 2
            and all(isinstance(name, str) for name in item)):
        return FeatureDistillation(item[0], item[1], weight=weight, projection=projection)
    raise ValueError("A `features` entry must be a (student_layer, teacher_layer) pair, a mapping with "
                     f"those keys, or a FeatureDistillation. Received: {item!r}")


def distill(
    student: keras.Model,
    teacher: keras.Model,
    *,
    temperature: float | keras.optimizers.schedules.LearningRateSchedule = 4.0,
    alpha: float | keras.optimizers.schedules.LearningRateSchedule = 0.9,
    logits_weight: float = 1.0,
    features: Sequence[Any] | None = None,
    feature_weight: float = 1.0,
    projection: str = "auto",
    teacher_output: str = "auto",
    student_output: str = "auto",
) -> Distiller:
    """Return a :class:`Distiller` training `student` on the labels and on `teacher`.

    The loss is `alpha · L_distill + (1 − alpha) · L_labels`, with
    `L_distill = logits_weight · T² · KL(softmax(t/T) || softmax(s/T)) + Σ feature_weight ·
    MSE(adapter(h_s), h_t)` (see :class:`Distiller`, :class:`LogitsDistillation` and
    :class:`FeatureDistillation`). Compile the result with the label loss, fit it like
    any model, then export `distiller.student`: the student is trained in place (not
    copied); the teacher is frozen (`trainable = False`); adapters are dropped.

    Args:
        student: The model to train.
        teacher: The trained model to learn from (same inputs).
        temperature: The softmax temperature `T` > 0, or a
            `keras.optimizers.schedules.LearningRateSchedule` of the step. Defaults to `4.0`.
        alpha: The distillation loss's weight in [0, 1], or a schedule. Defaults to `0.9`.
        logits_weight: Weight of the logits term in `L_distill`; 0 leaves it out
            (then `features` are needed). Defaults to `1.0`.
        features: Hint layers to match, each a `(student_layer, teacher_layer)` pair, a
            mapping with keys `student_layer`, `teacher_layer` and optionally `weight`,
            `projection`, or a `FeatureDistillation`. Defaults to `None`.
        feature_weight: The weight of each feature term not setting its own, >= 0.
            Defaults to `1.0`.
        projection: `"auto"`, `"always"` or `"never"`: when feature terms project the
            student's features (see `FeatureDistillation`). Defaults to `"auto"`.
        teacher_output: `"auto"`, `"logits"` or `"probabilities"`. Defaults to `"auto"`.
        student_output: `"auto"`, `"logits"` or `"probabilities"`. Defaults to `"auto"`.

    Returns:
        The uncompiled distiller.

    Raises:
        ValueError: For a bad argument, an entry of `features` that is malformed or names a
            missing layer, nothing to distill, or models the distiller refuses.

    Example:
        >>> import numpy as np
        >>> inputs = keras.Input((6,))
        >>> teacher = keras.Model(inputs, keras.layers.Dense(3)(keras.layers.Dense(32, name="t_h")(inputs)))
        >>> student = keras.Sequential([keras.Input((6,)), keras.layers.Dense(4, name="s_h"),
        ...                             keras.layers.Dense(3, activation="softmax")])
        >>> distiller = distill(student, teacher, temperature=2.0, alpha=0.7, features=[("s_h", "t_h")])
        >>> distiller.compile("adam", loss="sparse_categorical_crossentropy")
        >>> _ = distiller.fit(np.ones((8, 6)), np.zeros(8), verbose=0)
        >>> [adapter.width for adapter in distiller.adapters], distiller.student is student
        ([32], True)
    """
    check_number("logits_weight", logits_weight, low=0.0)
    check_number("feature_weight", feature_weight, low=0.0)
    if features is not None and (isinstance(features, (str, Mapping)) or not isinstance(features, Sequence)):
        raise ValueError(f"`features` must be a list of layer pairs or None. Received: features={features!r}")
    strategies: list[Any] = [_feature(item, feature_weight, projection) for item in features or ()]
    if logits_weight > 0:
        strategies.insert(0, LogitsDistillation(temperature=temperature, weight=logits_weight))
    if not strategies:
        raise ValueError("Nothing to distill: logits_weight=0 and no `features`. Give logits_weight > 0 "
                         "or list hint layers in `features`.")
    return Distiller(student, teacher, strategies, alpha=alpha, teacher_output=teacher_output,
                     student_output=student_output)
