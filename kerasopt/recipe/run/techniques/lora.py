"""`training.lora`: LoRA fine-tuning of Dense/EinsumDense layers, merged into the exported model."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import keras
import numpy as np

from kerasopt.recipe.run.techniques.technique import Technique

if TYPE_CHECKING:
    from kerasopt.recipe.format.stages import StageSettings
    from kerasopt.recipe.run.techniques.state import TechniqueState


class LoRAFineTuning(Technique):
    """Fine-tune low-rank factors of the chosen layers (:func:`kerasopt.models.lora.apply_lora`).

    - `optimizer_built`: refuses (exit 2, nothing written) patterns that match no
      Dense/EinsumDense layer. (`lora` on a stage other than the last is refused by
      `validate`: :mod:`kerasopt.recipe.check.stage_order`.)
    - `stage_start`: `enable_lora` on the matching layers; the trainable weights become the
      factors (and the `train` layers). On `--resume` it gives the structure the weights
      were saved from.
    - `callbacks`: :class:`LoRAState`, whose state (each layer's `W0`, `A`, `B`) goes into the
      stage's backups, since Keras's weight files hold the merged kernel and load the
      factors as zeros: a stage resumed mid-way continues from the same factors.
    - `before_export`: the model becomes a copy with plain layers whose kernels are
      `W0 + (alpha / rank) * A @ B` (no factors), which is evaluated and exported.
    """

    name = "lora"

    def __init__(self) -> None:
        self._layers: list[Any] = []
        self._report: dict[str, Any] = {}

    def optimizer_built(self, state: TechniqueState, stage: StageSettings, optimizer: Any) -> None:
        settings = stage.training.lora
        if settings is None:
            return
        from kerasopt.models.errors import ModelError
        from kerasopt.models.lora import lora_candidates
        from kerasopt.recipe.errors import Problem, RecipeError

        try:
            lora_candidates(state.model, settings.layers)
        except ModelError as err:
            raise RecipeError([Problem(("training", "lora", "layers"), str(err), has_received=False)],
                              state.source) from None

    def stage_start(self, state: TechniqueState, stage: StageSettings) -> None:
        settings = stage.training.lora
        if settings is None:
            return
        from kerasopt.models.errors import ModelError
        from kerasopt.models.lora import apply_lora

        with state.scope():  # the factors are variables of the run's strategy, like the model's
            try:
                self._layers = apply_lora(state.model, settings.rank, settings.alpha, settings.layers,
                                          settings.train)
            except ModelError as err:  # a layer Keras refuses (a kernel constraint)
                raise ModelError(f"`training.lora`: {err}") from err
        trainable = sum(int(np.prod(w.shape)) for w in state.model.trainable_weights)
        self._report = {"rank": settings.rank, "alpha": settings.alpha if settings.alpha is not None
                        else float(settings.rank), "layers": [layer.name for layer in self._layers],
                        "trainable_params": trainable}

    def callbacks(self, state: TechniqueState, stage: StageSettings, callbacks: list[Any]) -> list[Any]:
        return [LoRAState(self._layers)] if stage.training.lora is not None and self._layers else []

    def strip(self, model: Any) -> Any:
        from kerasopt.compression.cloning import clone_with_weights
        from kerasopt.models.layer_walk import all_layers
        from kerasopt.models.lora import merged_layer

        if not any(getattr(layer, "lora_enabled", False) for layer in all_layers(model)):
            return model
        return clone_with_weights(model, replace=merged_layer, function_name="training.lora")

    def before_export(self, state: TechniqueState) -> None:
        if self._layers:
            state.model = self.strip(state.model)
            self._layers = []

    def report(self, state: TechniqueState) -> dict[str, Any]:
        return {"lora": dict(self._report)} if self._report else {}


class LoRAState(keras.callbacks.Callback):
    """Carries the LoRA layers' `W0`, `A` and `B` through the stage's backups.

    :class:`~kerasopt.recipe.store.stage_backup.StageBackup` saves a callback's
    `state_dict()` with the backup and stores its `best_weights` arrays in an `.npz`; after a
    resume has loaded the backup's weight file (merged kernels, zero factors),
    `load_state_dict` puts the three arrays of each layer back.

    Args:
        layers: The LoRA layers, in a fixed order.
    """

    def __init__(self, layers: list[Any]) -> None:
        super().__init__()
        self.layers = list(layers)

    def state_dict(self, include_weights: bool = True) -> dict[str, Any]:
        from kerasopt.models.lora import lora_state

        return {"best_weights": lora_state(self.layers)} if include_weights else {}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        from kerasopt.models.lora import set_lora_state

        if state.get("best_weights") is not None:
            set_lora_state(self.layers, state["best_weights"])
