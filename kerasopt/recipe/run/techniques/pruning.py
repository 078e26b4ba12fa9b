"""`compression: {pruning: ...}`: magnitude pruning during a stage, its zeros kept afterwards."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from kerasopt.recipe.run.techniques.technique import Technique

if TYPE_CHECKING:
    from kerasopt.recipe.format.stages import StageSettings
    from kerasopt.recipe.run.techniques.state import TechniqueState


class Pruning(Technique):
    """Wrap layers for pruning at the start of a pruning stage; strip the wrappers after it.

    In a stage with `pruning`, the model's selected layers are wrapped
    (:func:`~kerasopt.compression.pruning.prune_low_magnitude`) with the stage's schedule,
    whose durations (`'0.7dur'`, `'2ep'`) are counted in that stage's steps, and
    `UpdatePruning` applies the schedule. The stage ends with its last weights, not its best
    epoch's (the target sparsity is reached at the schedule's end). When a later stage
    starts, the wrappers are stripped and the zeros stay zero: masks from the zero pattern
    are attached to the kernels, and the next technique (QAT, clustering) keeps them too.

    Masks change only on steps `begin_step + k * frequency`, so an `end_step` between two of
    them (as a duration like `'0.7dur'` usually gives) is moved down to the last one before
    it: the final sparsity is then reached, at most `frequency - 1` steps early.
    """

    name = "pruning"

    def __init__(self) -> None:
        self.wrapped = False

    def model_built(self, state: TechniqueState) -> None:
        from kerasopt.compression.pruning.prune import SUPPORT
        from kerasopt.recipe.run.techniques.selection_check import check_selection

        check_selection(state, "pruning", SUPPORT)

    def stage_start(self, state: TechniqueState, stage: StageSettings) -> None:
        from kerasopt.compression import pruning

        settings = stage.compression.pruning
        if self.wrapped:
            self._freeze(state)
        if settings is None:
            return
        from kerasopt import registry
        from kerasopt.recipe.run.assemble import resolve_durations

        spec = _align_end(resolve_durations(settings.pruning_schedule, state.plans[stage.index]))
        schedule = registry.build("pruning_schedule", spec)
        with state.scope():
            state.model = pruning.prune_low_magnitude(
                state.model, schedule, structure=settings.structure, n=settings.n, m=settings.m,
                block_shape=tuple(settings.block_shape), scope=settings.scope, **settings.selection())
        self.wrapped = True

    def _freeze(self, state: TechniqueState) -> None:
        """Strip the wrappers; keep every zero of the pruned kernels with a mask."""
        import keras

        from kerasopt.compression import pruning
        from kerasopt.compression.masking import attach_mask
        from kerasopt.compression.pruning.summary import prunable_kernels

        with state.scope():
            state.model = pruning.strip_pruning(state.model)
            for _, kernel in prunable_kernels(state.model):
                values = keras.ops.convert_to_numpy(kernel)
                attach_mask(kernel, keras.Variable((values != 0).astype("float32"), trainable=False))
        self.wrapped = False

    def callbacks(self, state: TechniqueState, stage: StageSettings, callbacks: list[Any]) -> list[Any]:
        if stage.compression.pruning is None:
            return []
        from kerasopt.compression.pruning import UpdatePruning

        return [UpdatePruning(log_dir=state.log_dir)]

    def keeps_last_weights(self, state: TechniqueState, stage: StageSettings) -> bool:
        return stage.compression.pruning is not None

    def strip(self, model: Any) -> Any:
        if not self.wrapped:
            return model
        from kerasopt.compression import pruning

        return pruning.strip_pruning(model)

    def before_export(self, state: TechniqueState) -> None:
        if self.wrapped:
            from kerasopt.compression import pruning

            state.model = pruning.strip_pruning(state.model)
            self.wrapped = False

    def report(self, state: TechniqueState) -> dict[str, Any]:
        from kerasopt.compression.pruning import pruning_summary

        summary = pruning_summary(state.model)
        return {"sparsity": summary["sparsity"], "sparsity_per_layer": summary["layers"]}


def _align_end(spec: dict[str, Any]) -> dict[str, Any]:
    """Move `end_step` down onto the schedule's last pruning step, so the final sparsity is reached."""
    begin, end = spec.get("begin_step", 0), spec.get("end_step")
    frequency = spec.get("frequency", 100)
    if not isinstance(end, int) or end < 0 or not isinstance(begin, int) or not isinstance(frequency, int):
        return spec
    aligned = begin + (end - begin) // frequency * frequency
    return {**spec, "end_step": max(aligned, begin + frequency) if end > begin else end}
