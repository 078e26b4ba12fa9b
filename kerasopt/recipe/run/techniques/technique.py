"""The seam through which techniques plug into a run.

A technique (pruning, quantization-aware training, clustering, SWA's averaging, LSUV's data
step, the SAM/AdaHessian closure...) implements some of the hooks below; the run calls
every technique's hooks at the same points and never names a technique itself:

```
model built -> for each stage: stage_start -> fit_model -> compile -> callbacks -> fit
            -> after_fit -> stage_end -> before_export -> export -> report
```

A hook may replace the run's model (`run.model = new_model`): pruning wraps layers at the
start of its stage, and `before_export` strips the wrappers again. A stage that is skipped
on `--resume` still goes through `stage_start` (so the model has the structure its saved
weights were written from) and `stage_end` (after its weights are loaded), but not
through fit.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from kerasopt.recipe.format.stages import StageSettings
    from kerasopt.recipe.run.run_context import Run


class Technique:
    """Base class of techniques: every hook does nothing unless overridden.

    Subclasses are listed in :data:`kerasopt.recipe.run.techniques.TECHNIQUES`; one instance of
    each lives for the whole run, so a technique may keep state across stages.
    """

    name = "technique"

    def model_built(self, run: Run) -> None:
        """After the model is built, before any stage (LSUV's data-dependent step)."""

    def stage_start(self, run: Run, stage: StageSettings) -> None:
        """Before a stage compiles (wrap layers for pruning, QAT, clustering)."""

    def fit_model(self, run: Run, stage: StageSettings, model: Any) -> Any:
        """The model `fit` trains in this stage: `model` itself, or a wrapper around it
        (a distiller holding the model as its student). The run's model stays `model`."""
        return model

    def compiled(self, run: Run, stage: StageSettings, optimizer: Any) -> None:
        """Right after `model.compile` (install a closure train step)."""

    def callbacks(self, run: Run, stage: StageSettings, callbacks: list[Any]) -> list[Any]:
        """Configure the stage's callbacks and return further ones to add."""
        return []

    def keeps_last_weights(self, run: Run, stage: StageSettings) -> bool:
        """Whether the stage must end with its last weights, not its best epoch's (pruning
        reaches its target sparsity only at the end of its schedule)."""
        return False

    def after_fit(self, run: Run, stage: StageSettings, optimizer: Any) -> None:
        """After a stage's `fit` (swap in averaged weights)."""

    def stage_end(self, run: Run, stage: StageSettings) -> None:
        """When a stage's weights are final (after fit, or loaded on resume): keep a teacher."""

    def before_export(self, run: Run) -> None:
        """Once, after the last stage and before evaluation and export (strip wrappers)."""

    def report(self, run: Run) -> dict[str, Any]:
        """Entries to add to `metrics.json` (merged into its top level)."""
        return {}
