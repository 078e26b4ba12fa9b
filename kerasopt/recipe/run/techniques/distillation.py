"""`compression: {distillation: ...}`: a stage's model learns from a teacher as well as from labels."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from kerasopt.recipe.run.techniques.technique import Technique

if TYPE_CHECKING:
    from kerasopt.recipe.format.stages import StageSettings
    from kerasopt.recipe.run.techniques.state import TechniqueState


class KnowledgeDistillation(Technique):
    """Train a distillation stage through a `Distiller` that holds the run's model as its student.

    The teacher is an earlier stage's model as that stage ended (kept in memory when the
    stage ends, also when it is restored on `--resume`) or a `.keras` file (loaded with
    `safe_mode=True`). It is frozen, called in inference mode, never exported: the run's
    model stays the student, so checkpoints, evaluation and exports hold the student alone.
    Combined with pruning or QAT in the same stage, the dense teacher trains its own
    pruned or quantized copy.
    """

    name = "distillation"

    def __init__(self) -> None:
        self.teachers: dict[str, Any] = {}

    def model_built(self, state: TechniqueState) -> None:
        self._wanted = {s.compression.distillation.teacher.stage for s in state.stages
                        if s.compression.distillation is not None} - {None}
        for stage in state.stages:
            if stage.compression.distillation is not None:
                self._check(state, stage)

    def _check(self, state: TechniqueState, stage: StageSettings) -> None:
        """Build the stage's student and teacher once, untrained, so that a teacher whose
        outputs cannot be matched or a feature layer that does not exist stops the run
        before anything trains or is written (a recipe error, exit 2)."""
        from kerasopt.recipe.errors import Problem, RecipeError

        settings = stage.compression.distillation
        where = ("stages", stage.index, "compression", "distillation")
        try:
            teacher = (_model_of(state, settings.teacher.stage) if settings.teacher.stage is not None
                       else _load_teacher(settings.teacher.path))
            self._distiller(settings, _model_of(state, stage.name), teacher)
        except ValueError as err:
            raise RecipeError([Problem(where, str(err), received=settings.model_dump(mode="json"))],
                              state.source) from None

    def stage_end(self, state: TechniqueState, stage: StageSettings) -> None:
        if stage.name in getattr(self, "_wanted", ()):
            from kerasopt.compression.cloning import copy_model

            self.teachers[stage.name] = copy_model(state.unwrapped_model())

    def fit_model(self, state: TechniqueState, stage: StageSettings, model: Any) -> Any:
        settings = stage.compression.distillation
        if settings is None:
            return model

        teacher = (self.teachers[settings.teacher.stage] if settings.teacher.stage is not None
                   else _load_teacher(settings.teacher.path))
        return self._distiller(settings, model, teacher)

    @staticmethod
    def _distiller(settings: Any, student: Any, teacher: Any) -> Any:
        from kerasopt import registry
        from kerasopt.compression.distillation import (
            Distiller,
            FeatureDistillation,
            LogitsDistillation,
        )

        def scheduled(value: Any) -> Any:
            return registry.build("schedule", value) if isinstance(value, dict) else value

        strategies = [LogitsDistillation(temperature=scheduled(settings.temperature))]
        strategies += [FeatureDistillation(pair.student, pair.teacher, weight=pair.weight)
                       for pair in settings.features]
        return Distiller(student, teacher, strategies, alpha=scheduled(settings.alpha))


def _model_of(state: TechniqueState, stage_name: str) -> Any:
    """A fresh, untrained build of the model a stage trains (its own `model:` or an earlier one's)."""
    section = None
    for stage in state.stages:
        section = stage.model if stage.model is not None else section
        if stage.name == stage_name:
            break
    return state.build_model(section)


def _load_teacher(path: str) -> Any:
    """The teacher `.keras` file, loaded with `safe_mode=True`; a ValueError names the file and why not."""
    import keras

    try:
        return keras.saving.load_model(path, safe_mode=True, compile=False)
    except Exception as err:  # noqa: BLE001 - Keras raises many types for a bad file
        reason = str(err).splitlines()[0] if str(err) else ""
        raise ValueError(f"cannot load the teacher file {path!r}: {type(err).__name__}: {reason}") from None
