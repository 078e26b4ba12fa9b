"""Optimizers that average weights (SWA) hand their average to the model after `fit`."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from kerasopt.recipe.run.techniques.technique import Technique

if TYPE_CHECKING:
    from kerasopt.recipe.format.stages import StageSettings
    from kerasopt.recipe.run.techniques.state import TechniqueState


class WeightAveraging(Technique):
    """After a stage, swap in the optimizer's averaged weights and recompute batch-norm statistics.

    Applies to any optimizer with an `assign_average_vars(var_list)` method (kerasopt's
    `SWA`, and wrappers around it that forward the method). The batch-norm pass reads the
    training inputs once, unaugmented: the arrays in memory, or a streaming source's
    training files in file order (`NotInMemory.batches`).
    """

    name = "weight_averaging"

    def after_fit(self, state: TechniqueState, stage: StageSettings, optimizer: Any) -> None:
        assign = getattr(optimizer, "assign_average_vars", None)
        if not callable(assign):
            return
        from kerasopt.data.stream import NotInMemory
        from kerasopt.training.batch_norm import recompute_batch_norm_statistics

        assign(state.model.trainable_variables)
        x, size = state.data.x_train, state.data.batch_size
        recompute_batch_norm_statistics(state.model, x.batches(size) if isinstance(x, NotInMemory) else x,
                                        batch_size=size)
