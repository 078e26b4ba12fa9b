"""`compression: {low_rank: ...}`: factorize kernels by truncated SVD at a stage's start, then fine-tune."""

from __future__ import annotations

import sys
from typing import TYPE_CHECKING, Any

from kerasopt.recipe.run.techniques.technique import Technique

if TYPE_CHECKING:
    from kerasopt.recipe.format.stages import StageSettings
    from kerasopt.recipe.run.techniques.state import TechniqueState


class LowRankFactorization(Technique):
    """Replace the selected kernels by their truncated-SVD factors at the start of a `low_rank` stage.

    :func:`~kerasopt.compression.low_rank.factorize_low_rank` rebuilds the model with each
    chosen layer split in two (the stage's `fit` fine-tunes them); a layer whose factors
    would not hold fewer weights than its kernel is left as it is, with a note on stderr.
    The model is factorized once, at the first stage with `low_rank` in force (a top-level
    `low_rank` does not factorize again in later stages). The ranks are kept in
    `checkpoints/progress.json`, so `--resume` rebuilds the same architecture before loading
    the stage's weights. `metrics.json` gets `low_rank`: the stage, the rank of each layer
    and the parameters before and after.
    """

    name = "low_rank"

    def __init__(self) -> None:
        self.summary: dict[str, Any] | None = None

    def model_built(self, state: TechniqueState) -> None:
        from kerasopt.compression.low_rank.factorize import SUPPORT
        from kerasopt.recipe.run.techniques.selection_check import check_selection

        check_selection(state, "low_rank", SUPPORT)

    def stage_start(self, state: TechniqueState, stage: StageSettings) -> None:
        settings = stage.compression.low_rank
        if settings is None or self.summary is not None:
            return
        from kerasopt.compression.low_rank import factorize_low_rank, low_rank_plan

        saved = state.saved.setdefault(self.name, {})
        if stage.name not in saved:  # chosen now; on --resume, the ranks chosen the first time
            plan = low_rank_plan(state.model, **settings.rank_rule(), **settings.selection())
            before = int(state.model.count_params())
            saved[stage.name] = {"stage": stage.name, "params_before": before, "layers": plan}
            for name, entry in plan.items():
                if entry["rank"] is None:
                    print(f"kerasopt: note: low_rank (stage {stage.name!r}): layer {name!r}: {entry['skipped']}.",
                          file=sys.stderr)
        summary = saved[stage.name]
        ranks = {name: entry["rank"] for name, entry in summary["layers"].items() if entry["rank"] is not None}
        with state.scope():
            state.model = factorize_low_rank(state.model, ranks=ranks)
        self.summary = {**summary, "params_after": int(state.model.count_params())}

    def report(self, state: TechniqueState) -> dict[str, Any]:
        return {"low_rank": self.summary} if self.summary is not None else {}
