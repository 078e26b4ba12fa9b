"""The seam through which techniques plug into a run.

A technique (pruning, quantization-aware training, clustering, SWA's averaging, LSUV's data
step, the SAM/AdaHessian closure...) implements some of the hooks below; the run calls
every technique's hooks at the same points and never names a technique itself:

```
model_built -> optimizer_built (each stage's, once) -> for each stage: stage_start -> fit_model -> compile -> compiled
            -> keeps_last_weights -> callbacks -> fit -> after_fit -> stage_end
            -> before_export -> evaluate, export -> report
```

Every hook receives a :class:`~kerasopt.recipe.run.techniques.state.TechniqueState`, not
the run: the model, the data, the strategy's scope, the recipe, its stages and their
plans, the TensorBoard folder. A hook may replace the model (`state.model = new_model`):
pruning wraps layers at the start of its stage, and `before_export` strips the wrappers
again. A technique never imports another: one that needs the model without the others'
wrappers (distillation's teacher) asks `state.unwrapped_model()`, which applies every
technique's :meth:`Technique.strip`.

A stage that is skipped on `--resume` goes through `stage_start` (so the model has the
structure its saved weights were written from) and `stage_end` (after its weights are
loaded) only.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from kerasopt.recipe.format.stages import StageSettings
    from kerasopt.recipe.run.techniques.state import TechniqueState


HOOKS = ("model_built", "optimizer_built", "stage_start", "fit_model", "compiled", "keeps_last_weights", "callbacks",
         "after_fit", "stage_end", "before_export", "report")
"""The hooks in the order a run calls them (`strip` is called on demand, by
:meth:`~kerasopt.recipe.run.techniques.state.TechniqueState.unwrapped_model`)."""


class Technique:
    """Base class of techniques: every hook does nothing unless overridden.

    Subclasses are listed in :data:`kerasopt.recipe.run.techniques.TECHNIQUES`; one instance of
    each lives for the whole run, so a technique may keep state across stages.
    """

    name = "technique"
    exports_wrappers = False
    """Whether the technique's wrappers stay in the exported model by design (QAT's trained
    ranges are what the int8 TFLite file uses); every other technique's are gone after
    `before_export`."""

    def model_built(self, state: TechniqueState) -> None:
        """After the model is built, before any stage (LSUV's data-dependent step)."""

    def optimizer_built(self, state: TechniqueState, stage: StageSettings, optimizer: Any) -> None:
        """Once per stage, after `model_built`, with the stage's optimizer (made once, not built
        yet): turn on an EMA of the weights. Also for stages skipped on `--resume`, whose
        saved optimizer variables must then match."""

    def stage_start(self, state: TechniqueState, stage: StageSettings) -> None:
        """Before a stage compiles (wrap layers for pruning, QAT, clustering)."""

    def fit_model(self, state: TechniqueState, stage: StageSettings, model: Any) -> Any:
        """The model `fit` trains in this stage: `model` itself, or a wrapper around it
        (a distiller holding the model as its student). The run's model stays `model`."""
        return model

    def compiled(self, state: TechniqueState, stage: StageSettings, optimizer: Any) -> None:
        """Right after `model.compile` (install a closure train step)."""

    def callbacks(self, state: TechniqueState, stage: StageSettings, callbacks: list[Any]) -> list[Any]:
        """Configure the stage's callbacks and return further ones to add."""
        return []

    def keeps_last_weights(self, state: TechniqueState, stage: StageSettings) -> bool:
        """Whether the stage must end with its last weights, not its best epoch's (pruning
        reaches its target sparsity only at the end of its schedule)."""
        return False

    def after_fit(self, state: TechniqueState, stage: StageSettings, optimizer: Any) -> None:
        """After a stage's `fit` (swap in averaged weights)."""

    def stage_end(self, state: TechniqueState, stage: StageSettings) -> None:
        """When a stage's weights are final (after fit, or loaded on resume): keep a teacher."""

    def strip(self, model: Any) -> Any:
        """`model` without this technique's training wrappers, for a copy (a teacher): a new
        model, or `model` itself when there is nothing to strip. `model` stays as it is."""
        return model

    def before_export(self, state: TechniqueState) -> None:
        """Once, after the last stage and before evaluation and export (strip wrappers)."""

    def report(self, state: TechniqueState) -> dict[str, Any]:
        """Entries to add to `metrics.json` (merged into its top level)."""
        return {}
