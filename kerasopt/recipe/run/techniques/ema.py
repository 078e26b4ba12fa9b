"""`training.ema`: an exponential moving average of the weights, the weights a stage ends with."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import keras

from kerasopt.recipe.run.techniques.technique import Technique

if TYPE_CHECKING:
    from kerasopt.recipe.format.stages import StageSettings
    from kerasopt.recipe.run.techniques.state import TechniqueState


class WeightEMA(Technique):
    """Keep an EMA of the weights in the stage's optimizer (:func:`kerasopt.training.enable_ema`).

    - `optimizer_built`: turns on Keras's `use_ema` with the stage's `decay`, `start` (a
      duration, in the stage's steps) and `every`; the averages are optimizer variables, so
      stage files and mid-stage backups hold them and `--resume` continues exactly.
    - `callbacks`: Keras's `SwapEMAWeights`, reaching the average however deep the optimizer
      is wrapped (mixed float16's `LossScaleOptimizer` around Lookahead or SAM: two levels;
      :class:`kerasopt._keras_compat.SwapEMAWeights`), so validation metrics are the average's, and
      :class:`RawValidation` (the same metrics of the trained weights, as `raw_val_*`, so
      both curves are in `metrics.json` and TensorBoard).
    - `fit` ends with the average in the model (Keras's `finalize_variable_values`): it is
      what the stage's weight file holds, what the next stage starts from, what is evaluated
      and exported. The stage keeps its last (averaged) weights, not its best epoch's.
    """

    name = "ema"

    def __init__(self) -> None:
        self._stages: dict[str, dict[str, Any]] = {}

    def optimizer_built(self, state: TechniqueState, stage: StageSettings, optimizer: Any) -> None:
        settings = stage.training.ema
        if settings is None:
            return
        from kerasopt.recipe.errors import Problem, RecipeError
        from kerasopt.recipe.format.fields import to_steps
        from kerasopt.training.ema import enable_ema

        plan = state.plans[stage.index]
        start = to_steps(settings.start, steps_per_epoch=plan.steps_per_epoch, total_steps=plan.total_steps)
        try:
            enable_ema(optimizer, decay=settings.decay, start=start, every=settings.every)
        except ValueError as err:  # an optimizer wrapper the schema cannot see
            raise RecipeError([Problem(("training", "ema"), str(err), has_received=False)],
                              state.source) from None
        self._stages[stage.name] = {"decay": settings.decay, "start_step": start, "every": settings.every}

    def keeps_last_weights(self, state: TechniqueState, stage: StageSettings) -> bool:
        return stage.training.ema is not None

    def callbacks(self, state: TechniqueState, stage: StageSettings, callbacks: list[Any]) -> list[Any]:
        if stage.training.ema is None:
            return []
        from kerasopt._keras_compat import SwapEMAWeights

        added: list[Any] = [SwapEMAWeights()]  # also under mixed float16 around a kerasopt wrapper
        if state.data.validation is not None:
            added.append(RawValidation(state.model, state.data.validation))
        return added

    def report(self, state: TechniqueState) -> dict[str, Any]:
        if not self._stages:
            return {}
        return {"ema": {"stages": dict(self._stages),
                        "note": "evaluation and exports use the averaged weights; each stage's history "
                                "holds val_* (averaged) and raw_val_* (trained weights) per epoch"}}


class RawValidation(keras.callbacks.Callback):
    """Add the validation metrics of the trained (not averaged) weights to the epoch's logs.

    At `on_epoch_end` the model holds its trained weights (`SwapEMAWeights` has swapped the
    average out again after validation); on every epoch that validated, `model` (the run's
    model, which shares the trainee's weights) is evaluated and each `val_<name>` gets a
    `raw_val_<name>` beside it. Listed before the backups, TensorBoard and History, which
    read the same logs.

    Args:
        model: The compiled model to evaluate.
        validation: The validation dataset.
    """

    def __init__(self, model: Any, validation: Any) -> None:
        super().__init__()
        self._evaluated = model
        self._validation = validation

    def on_epoch_end(self, epoch: int, logs: dict[str, Any] | None = None) -> None:
        if logs is None or "val_loss" not in logs:
            return
        values = self._evaluated.evaluate(self._validation, verbose=0, return_dict=True)
        logs.update({f"raw_val_{key}": float(value) for key, value in values.items()})
