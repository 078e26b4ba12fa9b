"""`compression: {qat: ...}`: quantization-aware training, exported as a full-int8 TFLite file."""

from __future__ import annotations

from typing import TYPE_CHECKING

from kerasopt.recipe.run.techniques.technique import Technique

if TYPE_CHECKING:
    from kerasopt.recipe.format.stages import StageSettings
    from kerasopt.recipe.run.techniques.state import TechniqueState


class QuantizationAwareTraining(Technique):
    """Wrap layers in fake quantization at the start of a QAT stage; keep them to export.

    The model's selected layers (Dense, Conv1D, Conv2D, DepthwiseConv1D, DepthwiseConv2D) are wrapped by
    :func:`~kerasopt.compression.quantization.quantize_model`, with batch norms folded and
    the zeros of pruned kernels kept (`preserve_sparsity`). The wrappers stay through later
    stages and into the export: their trained ranges are what the int8 TFLite file uses
    (the recipe's `export.tflite.quantization` must be `int8`).
    """

    name = "qat"
    exports_wrappers = True  # the int8 TFLite file is converted from the trained fake-quant ranges

    def __init__(self) -> None:
        self.wrapped = False

    def model_built(self, state: TechniqueState) -> None:
        from kerasopt.compression.quantization.quantize_model import SUPPORT
        from kerasopt.recipe.run.techniques.selection_check import check_selection

        check_selection(state, "qat", SUPPORT)

    def stage_start(self, state: TechniqueState, stage: StageSettings) -> None:
        settings = stage.compression.qat
        if settings is None or self.wrapped:
            return
        from kerasopt.compression.quantization import calibrate_ranges, quantize_model
        from kerasopt.data.stream import draw_pool

        with state.scope():
            state.model = quantize_model(
                state.model, preserve_sparsity=settings.preserve_sparsity,
                fold_batch_norm=settings.fold_batch_norm, ema_decay=settings.ema_decay,
                **settings.selection())
        # Ranges from real activations before the first step, instead of the [-6, 6] start
        # (the first 512 training samples; a streaming source's first 512 in file order).
        calibrate_ranges(state.model, draw_pool(state.data.x_train, 512)[:512])
        self.wrapped = True
