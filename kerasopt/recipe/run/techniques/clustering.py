"""`compression: {clustering: ...}`: k-means weight sharing, stripped for export."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from kerasopt.recipe.run.techniques.technique import Technique

if TYPE_CHECKING:
    from kerasopt.recipe.format.stages import StageSettings
    from kerasopt.recipe.run.techniques.state import TechniqueState


class WeightClustering(Technique):
    """Cluster kernels at the start of a clustering stage; strip the wrappers before export.

    :func:`~kerasopt.compression.clustering.cluster_weights` replaces each selected
    kernel's values by `number_of_clusters` shared values (zeros of pruned kernels stay
    zero); fine-tuning moves the shared values. The wrappers stay through later stages and
    are stripped before evaluation and export, leaving plain layers whose kernels hold only
    the shared values.
    """

    name = "clustering"

    def __init__(self) -> None:
        self.wrapped = False
        self.summary: dict[str, Any] | None = None

    def model_built(self, state: TechniqueState) -> None:
        from kerasopt.compression.clustering.cluster_model import SUPPORT
        from kerasopt.recipe.run.techniques.selection_check import check_selection

        check_selection(state, "clustering", SUPPORT)

    def stage_start(self, state: TechniqueState, stage: StageSettings) -> None:
        settings = stage.compression.clustering
        if settings is None or self.wrapped:
            return
        from kerasopt.compression.clustering import cluster_weights

        with state.scope():
            state.model = cluster_weights(
                state.model, settings.number_of_clusters, init=settings.init,
                preserve_sparsity=settings.preserve_sparsity, seed=state.recipe.seed,
                **settings.selection())
        self.wrapped = True

    def strip(self, model: Any) -> Any:
        if not self.wrapped:
            return model
        from kerasopt.compression.clustering import strip_clustering

        return strip_clustering(model)

    def before_export(self, state: TechniqueState) -> None:
        if not self.wrapped:
            return
        from kerasopt.compression.clustering import clustering_summary, strip_clustering

        self.summary = clustering_summary(state.model)
        state.model = strip_clustering(state.model)
        self.wrapped = False

    def report(self, state: TechniqueState) -> dict[str, Any]:
        return {"clustering": self.summary} if self.summary is not None else {}
