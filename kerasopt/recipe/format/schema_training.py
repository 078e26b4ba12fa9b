"""The `training:` section, and `stages:` that override it stage by stage."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import Field, ValidationInfo, field_validator, model_validator

from kerasopt.recipe.format.fields import Duration, Flag, PositiveInt, StrictModel, component
from kerasopt.recipe.format.schema_compression import Compression
from kerasopt.recipe.format.schema_model import Model

# Losses `training.label_smoothing` applies to (canonical name -> the loss class that smooths).
SMOOTHING_LOSSES = {
    "sparsecategoricalcrossentropy": "SmoothedSparseCategoricalCrossentropy",
    "smoothedsparsecategoricalcrossentropy": "SmoothedSparseCategoricalCrossentropy",
    "categoricalcrossentropy": "CategoricalCrossentropy",
    "categoricalfocalcrossentropy": "CategoricalFocalCrossentropy",
    "binarycrossentropy": "BinaryCrossentropy",
    "bce": "BinaryCrossentropy",
    "binaryfocalcrossentropy": "BinaryFocalCrossentropy",
}

# Optimizers that average the weights themselves: an EMA on top is refused.
WEIGHT_AVERAGING_OPTIMIZERS = {"swa", "stochasticweightaveraging"}


class EMA(StrictModel):
    """`training.ema`: an exponential moving average of the weights, evaluated, saved and exported."""

    decay: Annotated[float, Field(gt=0, lt=1)] = Field(
        0.999, description="the average's momentum: ema = decay * ema + (1 - decay) * weights")
    start: Duration = Field(
        0, description="steps (or '1ep', '0.1dur') before averaging starts; until then the average "
        "equals the weights")
    every: PositiveInt = Field(1, description="mix the weights into the average every this many steps")


class LoRA(StrictModel):
    """`training.lora`: LoRA fine-tuning of Dense/EinsumDense layers (Keras's `enable_lora`)."""

    rank: PositiveInt = Field(description="rank of the low-rank factors A (in x rank) and B (rank x out)")
    alpha: Annotated[float, Field(gt=0)] | None = Field(
        None, description="the update is (alpha / rank) * A @ B; default: rank (a scale of 1)")
    layers: list[str] = Field(
        default_factory=lambda: ["*"], description="fnmatch patterns of the Dense/EinsumDense layers to adapt")
    train: list[str] = Field(
        default_factory=list, description="patterns of further layers trained in full (a new head); every "
        "other weight is frozen")

    @field_validator("layers")
    @classmethod
    def _some_layer(cls, value: list[str]) -> list[str]:
        if not value:
            raise ValueError(
                "an empty list adapts no layer; give at least one fnmatch pattern of Dense/EinsumDense "
                "layer names, or leave `layers` out (default ['*']: every such layer)")
        return value


class Training(StrictModel):
    """How to compile and fit: loss, metrics, optimizer (with its schedule), callbacks, length."""

    epochs: PositiveInt | None = Field(None, description="passes over the training data (default 10)")
    steps: PositiveInt | None = Field(
        None, description="total optimizer steps instead of epochs (training stops exactly there)")
    loss: component("loss") | None = Field(  # type: ignore[valid-type]
        None, description="default: sparse categorical crossentropy (classification) or MSE (regression)")
    metrics: list[component("metric")] | None = Field(  # type: ignore[valid-type]
        None, description="default: accuracy (classification) or mae (regression)")
    optimizer: component("optimizer") = Field(  # type: ignore[valid-type]
        default_factory=lambda: {"type": "adam"},
        description="any registered optimizer; learning_rate may be a schedule or 'auto' (LR range test)")
    callbacks: list[component("callback")] = Field(default_factory=list)  # type: ignore[valid-type]
    class_weight: Literal["balanced"] | dict[int, Annotated[float, Field(ge=0)]] | None = None
    steps_per_execution: PositiveInt | Literal["auto"] = Field(
        "auto", description="optimizer steps per tf.function call; 'auto': 1 with callbacks that need "
        "every step, else up to 32 (see kerasopt.recipe.run.execution_plan)")
    jit_compile: Flag | Literal["auto"] = Field(
        "auto", description="XLA; 'auto': on when XLA compiles the model (timed against no XLA on "
        "long stages), off with op determinism or a layer without XLA support")
    label_smoothing: Annotated[float, Field(ge=0, lt=1)] = Field(
        0.0, description="moves this weight of each target to the uniform distribution over the "
        "classes; for crossentropy losses, integer labels included (default 0: off)")
    ema: EMA | None = Field(
        None, description="keep an exponential moving average of the weights (Keras's use_ema); the "
        "average is validated, saved, evaluated and exported; the stage then ends with it, not its "
        "best epoch")
    lora: LoRA | None = Field(
        None, description="LoRA fine-tuning in the last stage: only the low-rank factors (and `train` "
        "layers) train; exports hold the merged kernels")
    validation_freq: PositiveInt = 1
    restore_best: Flag = Field(
        True, description="end the stage with the weights of its best epoch by the monitored validation "
        "value (the first recipe callback's `monitor`, else val_loss); needs a validation split")

    @field_validator("label_smoothing")
    @classmethod
    def _smoothable_loss(cls, value: float, info: ValidationInfo) -> float:
        from kerasopt.data.output_spec import loss_name

        loss = info.data.get("loss")
        if value and loss is not None and loss_name(loss) not in SMOOTHING_LOSSES:
            raise ValueError(
                f"`training.label_smoothing: {value}` needs a crossentropy loss; `loss: "
                f"{loss.get('type')}` cannot smooth its labels (allowed losses: "
                "sparse_categorical_crossentropy, categorical_crossentropy, binary_crossentropy, "
                "their focal forms; or leave `loss` unset)")
        return value

    @field_validator("ema")
    @classmethod
    def _one_average(cls, value: EMA | None, info: ValidationInfo) -> EMA | None:
        optimizer = info.data.get("optimizer") or {}
        kind = str(optimizer.get("type", "")).replace("_", "").lower()
        if value is not None and kind in WEIGHT_AVERAGING_OPTIMIZERS:
            raise ValueError(
                f"`training.ema` cannot be combined with `optimizer: {optimizer.get('type')}`, which "
                "averages the weights itself (stochastic weight averaging): two averages would "
                "compete for the final weights. Keep one: remove `ema`, or use a plain optimizer")
        return value

    @model_validator(mode="after")
    def _one_length(self) -> Training:
        if self.epochs is not None and self.steps is not None:
            raise ValueError(
                f"give either `epochs` or `steps`, not both (received epochs={self.epochs}, "
                f"steps={self.steps})")
        return self

    def length(self) -> tuple[str, int]:
        """`("epochs", n)` or `("steps", n)`, applying the default of 10 epochs."""
        if self.steps is not None:
            return "steps", self.steps
        return "epochs", self.epochs if self.epochs is not None else 10


class Stage(StrictModel):
    """One stage of multi-stage training; continues from the previous stage's weights.

    A stage with its own `model:` starts a new model instead (built from the same data), for
    example the student of a distillation stage; later stages continue from it.

    `training` and `compression` hold only what changes: they are deep-merged over the
    recipe's top-level sections (lists are replaced, not appended).
    """

    name: str
    epochs: PositiveInt | None = None
    steps: PositiveInt | None = None
    training: dict[str, Any] = Field(default_factory=dict)
    compression: Compression = Field(default_factory=Compression)
    model: Model | None = Field(
        None, description="a new model for this stage (e.g. a distillation student), built at its start")
    freeze: list[str] = Field(default_factory=list, description="layer-name patterns to freeze")
    unfreeze: list[str] = Field(default_factory=list, description="layer-name patterns to unfreeze")
