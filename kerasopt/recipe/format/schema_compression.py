"""The `compression:` section: which techniques run, with their settings.

The same section appears at the top level (in force in every stage) and in a stage
(deep-merged over the top level). A technique given as `true` takes its defaults;
`false` or `null` turns off one the top level switched on.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import Field, model_validator

from kerasopt.recipe.format.fields import Flag, LayerTypeName, PositiveInt, StrictModel, component

Fraction = Annotated[float, Field(ge=0.0, lt=1.0)]


class _Selection(StrictModel):
    """Which layers a technique applies to (default: every layer type it supports).

    One rule for every technique (:func:`kerasopt.compression.layers.select`): `layers`
    are fnmatch patterns matched against each layer's name and its qualified name
    (`backbone/conv1d_2` in a nested model); `layer_types` are layer class names; given
    both, a layer must match both.
    """

    layers: list[str] | None = Field(
        None, description="layer-name patterns (fnmatch), matched against the name and the "
                          "`outer/inner` qualified name, e.g. ['conv1d*', 'backbone/*']")
    layer_types: list[Annotated[str, LayerTypeName()]] | None = Field(
        None, description="layer class names, e.g. ['Dense', 'Conv1D']; with `layers`, both must match")

    def selection(self) -> dict[str, Any]:
        """The selection as keyword arguments of the technique's functional form."""
        return {"layers": self.layers, "layer_types": self.layer_types}


def _default_pruning_schedule() -> dict[str, Any]:
    return {"type": "polynomial_decay", "initial_sparsity": 0.0, "final_sparsity": 0.5,
            "begin_step": 0, "end_step": "0.7dur", "frequency": 100}


class Pruning(_Selection):
    """Magnitude pruning (Zhu & Gupta 2017); see `kerasopt/compression/pruning/README.md`."""

    pruning_schedule: component("pruning_schedule") = Field(  # type: ignore[valid-type]
        default_factory=_default_pruning_schedule,
        description="constant_sparsity or polynomial_decay; steps may be durations ('0.7dur', '2ep')")
    structure: Literal["unstructured", "n:m", "block"] = "unstructured"
    n: PositiveInt = Field(2, description="kept weights per group of m (structure n:m)")
    m: PositiveInt = Field(4, description="group size (structure n:m)")
    block_shape: Annotated[list[PositiveInt], Field(min_length=2, max_length=2)] = Field(
        default_factory=lambda: [1, 4], description="block of weights pruned together (structure block)")
    scope: Literal["layer", "global"] = Field(
        "layer", description="one magnitude threshold per layer, or one across all selected layers")

    @model_validator(mode="after")
    def _n_below_m(self) -> Pruning:
        if self.structure == "n:m" and self.n >= self.m:
            raise ValueError(f"n:m pruning keeps n of every m weights, so n must be < m. "
                             f"Received: n={self.n}, m={self.m}")
        return self


class QAT(_Selection):
    """Quantization-aware training to a full-int8 TFLite; see `kerasopt/compression/quantization/README.md`."""

    preserve_sparsity: Flag = Field(True, description="keep the zeros of pruned kernels exactly")
    fold_batch_norm: Flag = Field(True, description="fold BatchNormalization into the layer before it")
    ema_decay: Annotated[float, Field(gt=0.0, lt=1.0)] = Field(
        0.999, description="decay of the moving-average activation ranges")


class Clustering(_Selection):
    """k-means weight sharing (Han et al. 2016); see `kerasopt/compression/clustering/README.md`."""

    number_of_clusters: Annotated[int, Field(ge=2, le=256)] = 16
    init: Literal["kmeans++", "linear"] = "kmeans++"
    preserve_sparsity: Flag = Field(True, description="zeros stay zero and are not clustered")


class LowRank(_Selection):
    """Low-rank factorization by truncated SVD; see `kerasopt/compression/low_rank/README.md`.

    The rank of each kernel keeps `energy` of its squared singular values, or fits
    `params_ratio` of its weights (give one; `low_rank: true` keeps 90% of the energy).
    """

    energy: Annotated[float, Field(gt=0.0, le=1.0)] | None = Field(
        None, description="fraction of the squared singular values kept (default 0.9 without params_ratio)")
    params_ratio: Annotated[float, Field(gt=0.0, lt=1.0)] | None = Field(
        None, description="the two factors' weights as a fraction of the kernel's")

    @model_validator(mode="after")
    def _one_rule(self) -> LowRank:
        if self.energy is not None and self.params_ratio is not None:
            raise ValueError(f"give one of `energy` and `params_ratio`, not both. "
                             f"Received: energy={self.energy!r}, params_ratio={self.params_ratio!r}")
        if self.energy is None and self.params_ratio is None:
            self.energy = 0.9
        return self

    def rank_rule(self) -> dict[str, float | None]:
        """`energy` and `params_ratio` as keyword arguments of the functional form."""
        return {"energy": self.energy, "params_ratio": self.params_ratio}


class ChannelPruning(_Selection):
    """Channel pruning that rebuilds a smaller dense model; see `kerasopt/compression/channel_pruning/README.md`.

    At the stage's start the least important channels (filters of Conv1D/Conv2D, units of
    Dense, with what depends on them: BatchNormalization, DepthwiseConv, residual Adds,
    Concatenates) are removed and the model is rebuilt smaller; the stage fine-tunes it.
    """

    ratio: Fraction = Field(0.5, description="fraction of channels removed (of each group with scope "
                                             "'layer', of all pruned channels with scope 'global')")
    criterion: Literal["l1", "l2", "bn_scale"] = Field(
        "l1", description="channel importance: L1/L2 norm of its filters, or |gamma| of its BatchNormalization")
    scope: Literal["layer", "global"] = Field("layer", description="one ratio per group, or one across the model")
    round_to: PositiveInt = Field(1, description="kept channel counts rounded up to a multiple of this (e.g. 8)")
    # As in every technique, but an empty list (which would select nothing to prune) is refused.
    layers: Annotated[list[str], Field(min_length=1)] | None = Field(
        None, description="layer-name patterns (fnmatch); a group is pruned when one of its layers is selected")
    layer_types: Annotated[list[Annotated[str, LayerTypeName()]], Field(min_length=1)] | None = Field(
        None, description="layer class names, e.g. ['Conv2D']; with `layers`, both must match")


class Teacher(StrictModel):
    """Where the teacher comes from: an earlier stage of this recipe, or a `.keras` file."""

    stage: str | None = Field(None, description="an earlier stage; its model as that stage ended")
    path: str | None = Field(None, description="a .keras file (loaded with safe_mode=True)")

    @model_validator(mode="after")
    def _one_source(self) -> Teacher:
        if (self.stage is None) == (self.path is None):
            raise ValueError(f"give the teacher as exactly one of `stage` (an earlier stage) or `path` "
                             f"(a .keras file). Received: stage={self.stage!r}, path={self.path!r}")
        return self


class FeaturePair(StrictModel):
    """One intermediate layer of the student matched to one of the teacher (FitNets hints)."""

    student: str = Field(description="the student layer's name")
    teacher: str = Field(description="the teacher layer's name")
    weight: Annotated[float, Field(gt=0.0)] = 1.0


class Distillation(StrictModel):
    """Knowledge distillation (Hinton et al. 2015; FitNets); see `kerasopt/compression/distillation/README.md`.

    The loss is `alpha * (T^2 KL of the softened outputs + sum of feature losses) +
    (1 - alpha) * label loss`. It combines with pruning or QAT in the same stage: the dense
    model of an earlier stage teaches its own pruned or quantized copy.
    """

    teacher: Teacher
    temperature: Annotated[float, Field(gt=0.0)] | component("schedule") = Field(  # type: ignore[valid-type]
        4.0, description="softmax temperature T, or a schedule of the step")
    alpha: Annotated[float, Field(ge=0.0, le=1.0)] | component("schedule") = Field(  # type: ignore[valid-type]
        0.9, description="weight of the distillation loss (labels get 1 - alpha), or a schedule")
    features: list[FeaturePair] = Field(default_factory=list)


def _shorthand(data: Any) -> Any:
    """`qat: true` -> `qat: {}`; `qat: false` -> absent."""
    if not isinstance(data, dict):
        return data
    out = {}
    for key, value in data.items():
        if value is True:
            out[key] = {}
        elif value is False:
            out[key] = None
        else:
            out[key] = value
    return out


class Compression(StrictModel):
    """Compression techniques in force: pruning, quantization-aware training, clustering,
    low-rank factorization, distillation.

    One stage runs at most one of pruning, QAT, clustering and low-rank factorization (distillation combines with
    any); a later stage keeps what an earlier one did (the zeros of pruning stay zero
    through clustering and QAT).
    """

    # `bool` only for the JSON Schema (editors accept `qat: true`): a mode="before" validator
    # turns true into the defaults and false into None, so a bool never reaches a field.
    pruning: Pruning | Flag | None = None
    qat: QAT | Flag | None = None
    clustering: Clustering | Flag | None = None
    low_rank: LowRank | Flag | None = None
    channel_pruning: ChannelPruning | Flag | None = None
    distillation: Distillation | None = None

    @model_validator(mode="before")
    @classmethod
    def _true_means_defaults(cls, data: Any) -> Any:
        return _shorthand(data)

    @model_validator(mode="after")
    def _one_technique(self) -> Compression:
        active = self.weight_techniques()
        if len(active) > 1:
            raise ValueError(
                f"one compression technique per stage; received {' and '.join(active)} together. "
                "Run them in consecutive stages instead (e.g. a `prune` stage, then a `qat` "
                "stage: later techniques keep the zeros of pruning)")
        return self

    def active(self) -> list[str]:
        """The names of the techniques switched on."""
        return [name for name in type(self).model_fields if getattr(self, name) is not None]

    def weight_techniques(self) -> list[str]:
        """The techniques switched on that change the weights' form (all but distillation)."""
        return [name for name in self.active() if name != "distillation"]
