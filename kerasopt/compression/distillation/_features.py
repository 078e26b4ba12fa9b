"""The hint layers of a `Distiller`: which outputs each strategy reads, and the adapters.

Private to `kerasopt.compression.distillation`.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import keras

from kerasopt.compression.distillation import _checks
from kerasopt.compression.distillation.feature_distillation import FeatureDistillation


def layer_names(strategy: Any) -> tuple[str | None, str | None]:
    """(student layer, teacher layer) a strategy reads; (None, None) for the final outputs.

    kerasopt's `FeatureDistillation` names them `student_layer`/`teacher_layer`, Keras's
    `student_layer_name`/`teacher_layer_name`.
    """
    if isinstance(strategy, FeatureDistillation):
        return strategy.student_layer, strategy.teacher_layer
    return getattr(strategy, "student_layer_name", None), getattr(strategy, "teacher_layer_name", None)


def _features_model(model: keras.Model, layers: list[Any], role: str) -> keras.Model | None:
    """A model sharing `model`'s layers that returns its output and the given layers' outputs."""
    if not layers:
        return None
    inputs = model.inputs[0] if isinstance(model, keras.Sequential) else model.input  # as the model takes them
    return keras.Model(inputs, {"output": model.outputs[0], "features": [layer.output for layer in layers]},
                       name=f"{model.name}_{role}_features")


class FeaturePlan:
    """Find every strategy's hint layers, make one adapter per `FeatureDistillation`, build the models.

    Attributes:
        slots: Per strategy, None (final outputs) or `(student feature index, teacher
            feature index, adapter index or -1)`.
        adapters: The built `FeatureAdapter` layers.
        student_model: The student's features model (None without hint layers).
        teacher_model: The teacher's features model (None without hint layers).

    Raises:
        ValueError: For a layer missing from a model, a model without inputs, a strategy
            naming one side only, or shapes that cannot be matched.
    """

    def __init__(self, strategies: Sequence[Any], student: keras.Model, teacher: keras.Model) -> None:
        found: dict[str, list[Any]] = {"student": [], "teacher": []}
        self.slots: list[tuple[int, int, int] | None] = []
        self.adapters: list[Any] = []
        for strategy in strategies:
            s_name, t_name = layer_names(strategy)
            if s_name is None and t_name is None:
                self.slots.append(None)
                continue
            if s_name is None or t_name is None:
                raise ValueError(f"Strategy {type(strategy).__name__} names a layer on one side only "
                                 f"(student {s_name!r}, teacher {t_name!r}); name both.")
            pair = [self._index(found["student"], student, s_name, "student"),
                    self._index(found["teacher"], teacher, t_name, "teacher")]
            s_shape = tuple(found["student"][pair[0]].output.shape)
            t_shape = tuple(found["teacher"][pair[1]].output.shape)
            if isinstance(strategy, FeatureDistillation):
                adapter = strategy.adapter_for(s_shape, t_shape, name=f"adapter_{len(self.adapters)}_{s_name}")
                adapter.build(s_shape)
                self.adapters.append(adapter)
                self.slots.append((pair[0], pair[1], len(self.adapters) - 1))
                continue
            if s_shape[1:] != t_shape[1:]:
                raise ValueError(
                    f"{type(strategy).__module__}.{type(strategy).__name__} compares student layer "
                    f"{s_name!r} (shape {s_shape}) with teacher layer {t_name!r} (shape {t_shape}) "
                    "without an adapter, so the shapes must match; use kerasopt's "
                    "FeatureDistillation, which learns a projection.")
            self.slots.append((pair[0], pair[1], -1))
        self.student_model = _features_model(student, found["student"], "student")
        self.teacher_model = _features_model(teacher, found["teacher"], "teacher")

    @staticmethod
    def _index(found: list[Any], model: keras.Model, name: str, role: str) -> int:
        if not getattr(model, "inputs", None):
            raise ValueError(f"Feature distillation reads layer outputs, so the {role} must be a built "
                             f"Functional or Sequential model; {model.name!r} has no inputs.")
        layer = _checks.find_layer(model, name, role)
        for i, other in enumerate(found):
            if other is layer:
                return i
        found.append(layer)
        return len(found) - 1
