"""The `model:` section: a built-in architecture, a layer list, a Keras application or a file."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import Discriminator, Field, Tag

from kerasopt.recipe.format.fields import Flag, PositiveInt, StrictModel, component

ARCHITECTURES = ("mlp", "cnn", "resnet", "mobilenet", "fcn", "resnet1d", "layers", "application", "file")


class ModelOptions(StrictModel):
    """Options the built-in architectures share."""

    activation: component("activation") = Field(
        default_factory=lambda: {"type": "relu"},
        description="hidden-layer activation (relu, leaky_relu, elu, gelu, swish, tanh, sigmoid...)")
    kernel_initializer: component("initializer") = Field(
        default_factory=lambda: {"type": "glorot_uniform"},
        description="any registered initializer, or 'lsuv' (orthogonal, then LSUV on a data batch)")
    l1: Annotated[float, Field(ge=0)] = 0.0
    l2: Annotated[float, Field(ge=0)] = 0.0
    dropout: Annotated[float, Field(ge=0, lt=1)] = 0.0
    normalization: Literal["none", "batch", "layer"] | None = Field(
        None, description="default: batch for resnet and mobilenet (as in their papers), none otherwise")
    output_activation: str = Field(
        "auto", description="'auto': softmax (classification), sigmoid with one unit for a binary "
                            "loss (binary_crossentropy), linear (regression or from_logits); "
                            "'sigmoid' alone selects the one-unit binary head")


StochasticDepthRate = Annotated[float, Field(
    ge=0, lt=1, description="drop-path rate of the last residual block (Huang et al. 2016), rising "
    "linearly from the first; training only, inference is the plain network")]


class Mlp(ModelOptions):
    architecture: Literal["mlp"]
    units: list[PositiveInt] = Field(default_factory=lambda: [128, 64])


class Cnn(ModelOptions):
    architecture: Literal["cnn"]
    filters: list[PositiveInt] = Field(default_factory=lambda: [32, 64])
    kernel_size: PositiveInt | list[PositiveInt] = 3
    strides: PositiveInt | list[PositiveInt] = 1
    pooling: Literal["max", "avg", "none"] = "max"
    global_pooling: Flag = False
    dense_units: list[PositiveInt] = Field(default_factory=list)


class ResNet(ModelOptions):
    architecture: Literal["resnet"]
    filters: PositiveInt = 16
    blocks_per_stage: list[PositiveInt] = Field(default_factory=lambda: [2, 2, 2])
    kernel_size: PositiveInt = Field(3, description="width of the stem's and blocks' convolutions (3 in the paper)")
    stochastic_depth: StochasticDepthRate = 0.0


class Fcn(ModelOptions):
    """The time-series FCN of Wang, Yan & Oates 2017 (paper settings as defaults)."""

    architecture: Literal["fcn"]
    filters: list[PositiveInt] = Field(default_factory=lambda: [128, 256, 128])
    kernel_size: PositiveInt | list[PositiveInt] = Field(
        default_factory=lambda: [8, 5, 3], description="one per block, or one for all")


class ResNet1D(ModelOptions):
    """The time-series ResNet of Wang et al. 2017 / Fawaz et al. 2019 (paper settings as defaults)."""

    architecture: Literal["resnet1d"]
    filters: list[PositiveInt] = Field(default_factory=lambda: [64, 128, 128], description="one per block")
    kernel_size: PositiveInt | list[PositiveInt] = Field(
        default_factory=lambda: [8, 5, 3], description="the three convolutions of every block, or one for all")
    stochastic_depth: StochasticDepthRate = 0.0


class MobileNet(ModelOptions):
    architecture: Literal["mobilenet"]
    alpha: Annotated[float, Field(gt=0)] = 1.0
    filters: list[PositiveInt] = Field(default_factory=lambda: [32, 64, 128])


class Layers(StrictModel):
    architecture: Literal["layers"] = "layers"
    layers: Annotated[list[component("layer")], Field(min_length=1)]  # type: ignore[valid-type]


class Application(StrictModel):
    architecture: Literal["application"]
    name: str = Field(description="a keras.applications model, e.g. MobileNetV2")
    weights: str | None = Field(None, description="null, or a local .weights.h5/.h5/.keras file of the "
                                   "application without its top (no downloads)")
    dropout: Annotated[float, Field(ge=0, lt=1)] = 0.0


class File(StrictModel):
    architecture: Literal["file"] = "file"
    path: str = Field(description="a .keras file, e.g. one written by another recipe's run")
    freeze: list[str] = Field(default_factory=list, description="layer-name patterns to freeze")
    unfreeze: list[str] = Field(default_factory=list, description="patterns unfrozen after freezing")
    replace_head: Flag = False


MODEL_CLASSES: dict[str, type[StrictModel]] = {
    "mlp": Mlp, "cnn": Cnn, "resnet": ResNet, "mobilenet": MobileNet, "fcn": Fcn, "resnet1d": ResNet1D,
    "layers": Layers,
    "application": Application, "file": File,
}


def _model_tag(value: Any) -> str | None:
    if not isinstance(value, dict):
        return getattr(value, "architecture", None)
    if "architecture" in value:
        return value["architecture"]
    if "layers" in value:
        return "layers"
    if "path" in value:
        return "file"
    return None


Model = Annotated[
    Annotated[Mlp, Tag("mlp")] | Annotated[Cnn, Tag("cnn")] | Annotated[ResNet, Tag("resnet")]
    | Annotated[MobileNet, Tag("mobilenet")] | Annotated[Fcn, Tag("fcn")]
    | Annotated[ResNet1D, Tag("resnet1d")] | Annotated[Layers, Tag("layers")]
    | Annotated[Application, Tag("application")] | Annotated[File, Tag("file")],
    Discriminator(_model_tag),
]
