"""Optimizers that average weights (SWA) hand their average to the model after `fit`."""

from __future__ import annotations

from typing import Any

from kerasopt.recipe.run.techniques.technique import Technique


class WeightAveraging(Technique):
    """After a stage, swap in the optimizer's averaged weights and recompute batch-norm statistics.

    Applies to any optimizer with an `assign_average_vars(var_list)` method (kerasopt's
    `SWA`, and wrappers around it that forward the method).
    """

    name = "weight_averaging"

    def after_fit(self, run: Any, stage: Any, optimizer: Any) -> None:
        assign = getattr(optimizer, "assign_average_vars", None)
        if not callable(assign):
            return
        from kerasopt.training.batch_norm import recompute_batch_norm_statistics

        assign(run.model.trainable_variables)
        recompute_batch_norm_statistics(run.model, run.data.x_train, batch_size=run.data.batch_size)
