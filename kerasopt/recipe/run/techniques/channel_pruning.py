"""`compression: {channel_pruning: ...}`: remove channels at a stage's start, then fine-tune the smaller model."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from kerasopt.recipe.run.techniques.technique import Technique

if TYPE_CHECKING:
    from kerasopt.recipe.format.stages import StageSettings
    from kerasopt.recipe.run.techniques.state import TechniqueState


class ChannelPruning(Technique):
    """Rebuild the model smaller at the start of a channel-pruning stage; the stage fine-tunes it.

    At `stage_start` the channels are ranked on the weights the model has then (the previous
    stage's final weights) and :func:`~kerasopt.compression.channel_pruning.prune_channels`
    replaces the model with the smaller dense one; the stage trains it (with
    `distillation: {teacher: {stage: <an earlier stage>}}` the unpruned model of that stage
    teaches it). Several consecutive channel-pruning stages prune iteratively, each
    `ratio` of the channels the model has at its start.

    On `--resume`, a completed stage's `stage_start` runs on the weights of the stage before
    it as they were saved, so the same channels are chosen and the same architecture is
    rebuilt before the stage's own weights are loaded; the kept indices of every stage are
    kept too (in `metrics.json`, `channel_pruning.stages`), so a run can be checked against
    them.
    """

    name = "channel_pruning"

    def __init__(self) -> None:
        self.stages: list[dict[str, Any]] = []
        self.params_before: int | None = None

    def model_built(self, state: TechniqueState) -> None:
        """Plan every channel-pruning stage on the model as built: a selection that cannot be
        pruned (unknown layers in the way, bn_scale without BatchNormalization) is exit 2."""
        from kerasopt.compression.channel_pruning import plan_channels
        from kerasopt.compression.channel_pruning.prune_channels import SUPPORT
        from kerasopt.recipe.errors import Problem, RecipeError
        from kerasopt.recipe.run.techniques.selection_check import check_selection

        check_selection(state, self.name, SUPPORT)
        for stage in state.stages:
            if stage.model is not None and stage.index > 0:
                return
            settings = stage.compression.channel_pruning
            if settings is None:
                continue
            try:
                plan_channels(state.model, **_arguments(settings))
            except ValueError as err:
                where = ("stages", stage.index, "compression", self.name) if state.recipe.stages else (
                    "compression", self.name)
                raise RecipeError([Problem(where, str(err), received=settings.model_dump(mode="json"))],
                                  state.source) from None

    def stage_start(self, state: TechniqueState, stage: StageSettings) -> None:
        settings = stage.compression.channel_pruning
        if settings is None:
            return
        from kerasopt.compression.channel_pruning import prune_channels

        before = state.model.count_params()
        if self.params_before is None:
            self.params_before = before
        with state.scope():
            state.model, plan = prune_channels(state.model, **_arguments(settings))
        self.stages = [s for s in self.stages if s["stage"] != stage.name]
        self.stages.append({"stage": stage.name, "params_before": before,
                            "params_after": state.model.count_params(), **plan.to_dict()})

    def report(self, state: TechniqueState) -> dict[str, Any]:
        if not self.stages:
            return {}
        kept: dict[str, dict[str, int]] = {}
        for entry in self.stages:  # before: as first seen; after: as last pruned
            for layer, counts in entry["kept_channels"].items():
                kept[layer] = {"before": kept.get(layer, counts)["before"], "after": counts["after"]}
        return {"channel_pruning": {"params_before": self.params_before,
                                    "params_after": self.stages[-1]["params_after"],
                                    "kept_channels": kept, "stages": self.stages}}


def _arguments(settings: Any) -> dict[str, Any]:
    return {"ratio": settings.ratio, "criterion": settings.criterion, "scope": settings.scope,
            "round_to": settings.round_to, **settings.selection()}
